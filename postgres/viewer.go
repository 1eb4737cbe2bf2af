package postgres

import (
	"context"

	"github.com/switchyard/switchyard"
)

var _ switchyard.ViewerLoader = (*UserService)(nil)

// LoadViewer reads what userID may see now, for routing live events. Like
// ResolveCaller it runs without a caller and without access rules: it answers
// for the user themselves. The projects are the rule of memberProjectIDs (owned
// or belonging to, not DELETED), read with the user in one statement, so a
// removal committed before it is never half seen.
func (s *UserService) LoadViewer(ctx context.Context, userID string) (*switchyard.Viewer, error) {
	unknown := switchyard.Errorf(switchyard.EUNAUTHENTICATED, "the user no longer exists")
	if !validID(userID) {
		return nil, unknown
	}
	var (
		v        switchyard.Viewer
		role     switchyard.Role
		projects []string
	)
	err := s.db.pool.QueryRow(ctx, `SELECT u.id::text, u.role, array(
			SELECT p.id::text FROM projects p WHERE p.owner_id = u.id AND p.status <> 'DELETED'
			UNION
			SELECT pm.project_id::text FROM project_members pm JOIN projects p ON p.id = pm.project_id
			WHERE pm.user_id = u.id AND p.status <> 'DELETED')
		FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL`, userID).Scan(&v.UserID, &role, &projects)
	if isNoRows(err) {
		return nil, unknown
	}
	if err != nil {
		return nil, translate(err)
	}
	v.Admin = role == switchyard.RoleAdmin
	v.ProjectIDs = make(map[string]bool, len(projects))
	for _, id := range projects {
		v.ProjectIDs[id] = true
	}
	return &v, nil
}
