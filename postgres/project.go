package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// ProjectService implements switchyard.ProjectService.
//
// DELETED projects stay for the record (their orders keep pointing at them).
// Only admins can read them, and changing one answers ECONFLICT, except that
// deleting it again changes nothing. Deleting a project writes a
// project.updated event whose data has status DELETED: there is no separate
// event type for it.
type ProjectService struct {
	db *DB
}

var _ switchyard.ProjectService = (*ProjectService)(nil)

// NewProjectService returns the project service over db.
func NewProjectService(db *DB) *ProjectService { return &ProjectService{db: db} }

// projectColumns are the columns scanProject reads, over the alias p.
const projectColumns = "p.id, p.name, p.description, p.status, p.owner_id, p.created_at, p.updated_at"

func scanProject(row pgx.Row, extra ...any) (*switchyard.Project, error) {
	var p switchyard.Project
	dest := append([]any{&p.ID, &p.Name, &p.Description, &p.Status, &p.OwnerID, &p.CreatedAt, &p.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &p, nil
}

func projectNotFound() error { return switchyard.Errorf(switchyard.ENOTFOUND, "project not found") }

// FindProjectByID returns the readable project with id.
func (s *ProjectService) FindProjectByID(ctx context.Context, id string) (*switchyard.Project, error) {
	c := switchyard.CallerFromContext(ctx)
	if c == nil || !validID(id) {
		return nil, projectNotFound()
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM projects p WHERE p.id = %s AND %s`, projectColumns, ps.add(id), canReadProject(c, "p", &ps))
	p, err := scanProject(s.db.pool.QueryRow(ctx, q, ps...))
	if isNoRows(err) {
		return nil, projectNotFound()
	}
	return p, translate(err)
}

// FindProjectsByIDs returns the readable projects among ids.
func (s *ProjectService) FindProjectsByIDs(ctx context.Context, ids []string) ([]*switchyard.Project, error) {
	c := switchyard.CallerFromContext(ctx)
	ids = validIDs(ids)
	if c == nil || len(ids) == 0 {
		return []*switchyard.Project{}, nil
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM projects p WHERE p.id = ANY(%s::uuid[]) AND %s`, projectColumns, ps.add(ids), canReadProject(c, "p", &ps))
	list, err := queryAll(ctx, s.db.pool, q, ps, rowOf(scanProject))
	return list, translate(err)
}

// projectSortKey maps an order to its keyset key. CREATED_AT defaults to
// newest first, NAME to alphabetical.
func projectSortKey(o switchyard.ProjectOrder) (sortKey, error) {
	k := sortKey{idColumn: "p.id"}
	switch o.Field {
	case switchyard.ProjectOrderCreatedAt, "":
		k.name, k.column, k.cast, k.desc = "projects.created_at", "p.created_at", "timestamptz", true
	case switchyard.ProjectOrderName:
		k.name, k.column, k.cast = "projects.name", "p.name", "text"
	default:
		return k, switchyard.InvalidField("orderBy.field", "unknown order field %q", o.Field)
	}
	return k.withDirection(o.Direction)
}

// ownsOrBelongs is the condition that the user whose id is the SQL expression
// user owns or belongs to the project p.
func ownsOrBelongs(user string) string {
	return fmt.Sprintf(`(p.owner_id = %[1]s OR EXISTS (SELECT 1 FROM project_members fm WHERE fm.project_id = p.id AND fm.user_id = %[1]s))`, user)
}

// projectConditions is the WHERE clause of the project lists and counts:
// readable by c and matching f.
func projectConditions(c *switchyard.Caller, f switchyard.ProjectFilter, ps *params) (string, error) {
	conds := []string{canReadProject(c, "p", ps)}
	if f.Status != nil {
		if !f.Status.Valid() {
			return "", switchyard.InvalidField("filter.status", "unknown project status %q", *f.Status)
		}
		conds = append(conds, "p.status = "+ps.add(string(*f.Status)))
	}
	if f.OwnerID != nil {
		if !validID(*f.OwnerID) {
			return "FALSE", nil
		}
		conds = append(conds, "p.owner_id = "+ps.add(*f.OwnerID))
	}
	if f.Search != nil && *f.Search != "" {
		p := ps.add(likePattern(*f.Search))
		conds = append(conds, fmt.Sprintf(`(p.name ILIKE %[1]s ESCAPE '\' OR p.description ILIKE %[1]s ESCAPE '\')`, p))
	}
	if f.MemberID != nil {
		if !validID(*f.MemberID) {
			return "FALSE", nil
		}
		conds = append(conds, ownsOrBelongs(ps.add(*f.MemberID)+"::uuid"))
	}
	return strings.Join(conds, " AND "), nil
}

func projectConnection(ks keyset, list []sortedRow[*switchyard.Project], f switchyard.ProjectFilter) *switchyard.ProjectConnection {
	edges, info := pageEdges(ks, list, func(p *switchyard.Project) string { return p.ID }, func(cursor string, p *switchyard.Project) switchyard.ProjectEdge {
		return switchyard.ProjectEdge{Cursor: cursor, Node: p}
	})
	return &switchyard.ProjectConnection{Edges: edges, PageInfo: info, Filter: f}
}

// FindProjects returns one keyset page of the readable projects matching filter.
func (s *ProjectService) FindProjects(ctx context.Context, filter switchyard.ProjectFilter, page switchyard.PageArgs, order switchyard.ProjectOrder) (*switchyard.ProjectConnection, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	key, err := projectSortKey(order)
	if err != nil {
		return nil, err
	}
	var ps params
	where, err := projectConditions(c, filter, &ps)
	if err != nil {
		return nil, err
	}
	ks := keyset{key: key, args: page}
	q, err := ks.selectPage(projectColumns, "projects p", where, &ps)
	if err != nil {
		return nil, err
	}
	list, err := queryAll(ctx, s.db.pool, q, ps, withSortValue(scanProject))
	if err != nil {
		return nil, translate(err)
	}
	return projectConnection(ks, list, filter), nil
}

// FindProjectsByMembers returns, for each user id, one page (newest first) of
// the readable projects that user owns or belongs to, in one statement: a
// lateral subquery reads each user's page with its own LIMIT.
func (s *ProjectService) FindProjectsByMembers(ctx context.Context, userIDs []string, page switchyard.PageArgs) (map[string]*switchyard.ProjectConnection, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	ks := keyset{key: defaultProjectSortKey(), args: page}
	var ps params
	cond, orderBy, limit, err := ks.clause(&ps)
	if err != nil {
		return nil, err
	}
	ids := batchIDs(userIDs)
	out := make(map[string]*switchyard.ProjectConnection, len(userIDs))
	if len(ids) == 0 {
		return out, nil
	}
	where, err := projectConditions(c, switchyard.ProjectFilter{}, &ps)
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf(`SELECT x.* FROM unnest(%s::uuid[]) AS parent(id)
		CROSS JOIN LATERAL (SELECT %s, %s, parent.id::text FROM projects p WHERE %s AND %s AND %s ORDER BY %s LIMIT %d) x`,
		ps.add(ids), projectColumns, ks.sortValueSQL(), ownsOrBelongs("parent.id"), where, cond, orderBy, limit)
	rows, err := queryAll(ctx, s.db.pool, q, ps, func(r pgx.CollectableRow) (parentRow[*switchyard.Project], error) {
		var pr parentRow[*switchyard.Project]
		var err error
		pr.node, err = scanProject(r, &pr.value, &pr.parent)
		return pr, err
	})
	if err != nil {
		return nil, translate(err)
	}
	byParent := groupByParent(rows)
	for _, id := range validIDs(userIDs) {
		out[id] = projectConnection(ks, byParent[strings.ToLower(id)], switchyard.ProjectFilter{MemberID: &id})
	}
	return out, nil
}

// defaultProjectSortKey is newest first, the order of lists that take none.
func defaultProjectSortKey() sortKey {
	k, _ := projectSortKey(switchyard.ProjectOrder{})
	return k
}

// scanMemberRow scans one row of FindProjectMembers: a readable parent
// project and, unless the project has no member on the page, one member with
// its cursor value. The member columns are NULL for an empty page.
func scanMemberRow(row pgx.CollectableRow) (parentRow[*switchyard.User], error) {
	var (
		pr                    parentRow[*switchyard.User]
		id, email, name, role *string
		avatarURL, addedAt    *string
		createdAt, updatedAt  *time.Time
	)
	if err := row.Scan(&pr.parent, &id, &email, &name, &avatarURL, &role, &createdAt, &updatedAt, &addedAt); err != nil {
		return pr, err
	}
	if id == nil {
		pr.empty = true
		return pr, nil
	}
	pr.value = *addedAt
	pr.node = &switchyard.User{
		ID: *id, Email: *email, Name: *name, AvatarURL: avatarURL, Role: switchyard.Role(*role),
		CreatedAt: *createdAt, UpdatedAt: *updatedAt,
	}
	return pr, nil
}

// FindProjectMembers returns, for each readable project id, one page of its
// members ordered by when they were added, in one statement. The parents are
// joined to the access rule first and the members read with LEFT JOIN LATERAL,
// so a readable project without members still answers (an empty page) while an
// unreadable one answers nothing. Members of a readable project are readable
// users by the access rules, so they are not filtered again.
func (s *ProjectService) FindProjectMembers(ctx context.Context, projectIDs []string, page switchyard.PageArgs) (map[string]*switchyard.UserConnection, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	ks := keyset{key: sortKey{name: "members.added_at", column: "pm.added_at", cast: "timestamptz", idColumn: "pm.user_id"}, args: page}
	var ps params
	cond, orderBy, limit, err := ks.clause(&ps)
	if err != nil {
		return nil, err
	}
	ids := batchIDs(projectIDs)
	out := make(map[string]*switchyard.UserConnection, len(projectIDs))
	if len(ids) == 0 {
		return out, nil
	}
	q := fmt.Sprintf(`SELECT p.id::text, x.* FROM projects p
		LEFT JOIN LATERAL (SELECT %s, %s FROM project_members pm JOIN users u ON u.id = pm.user_id
			WHERE pm.project_id = p.id AND u.deleted_at IS NULL AND %s ORDER BY %s LIMIT %d) x ON TRUE
		WHERE p.id = ANY(%s::uuid[]) AND %s`,
		userColumns, ks.sortValueSQL(), cond, orderBy, limit, ps.add(ids), canReadProject(c, "p", &ps))
	rows, err := queryAll(ctx, s.db.pool, q, ps, scanMemberRow)
	if err != nil {
		return nil, translate(err)
	}
	byParent := groupByParent(rows)
	for _, id := range validIDs(projectIDs) {
		list, readable := byParent[strings.ToLower(id)]
		if !readable {
			continue
		}
		out[id] = userConnection(ks, list, switchyard.UserFilter{MemberOfProjectID: &id})
	}
	return out, nil
}

// CountProjects counts the readable projects matching filter.
func (s *ProjectService) CountProjects(ctx context.Context, filter switchyard.ProjectFilter) (int, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return 0, err
	}
	var ps params
	where, err := projectConditions(c, filter, &ps)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.db.pool.QueryRow(ctx, "SELECT count(*) FROM projects p WHERE "+where, ps...).Scan(&n)
	return n, translate(err)
}

func projectEvent(typ string, p *switchyard.Project, c *switchyard.Caller) switchyard.Event {
	return switchyard.Event{Type: typ, SubjectType: "project", SubjectID: p.ID, ProjectID: &p.ID, UserIDs: []string{p.OwnerID}, ActorID: actorID(c)}
}

// memberEvent names the added or removed user, who is not (or no longer) among
// the project's members when realtime routes the event.
func memberEvent(typ string, p *switchyard.Project, userID string, c *switchyard.Caller) switchyard.Event {
	return switchyard.Event{Type: typ, SubjectType: "project", SubjectID: p.ID, ProjectID: &p.ID, UserIDs: []string{userID}, ActorID: actorID(c)}
}

// CreateProject creates an ACTIVE project owned by the caller or, for an
// admin, by input.OwnerID.
func (s *ProjectService) CreateProject(ctx context.Context, input switchyard.ProjectCreate) (*switchyard.Project, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if c.IsPartner() {
		return nil, switchyard.Errorf(switchyard.EFORBIDDEN, "an API key cannot create projects")
	}
	owner := c.UserID
	if input.OwnerID != nil && *input.OwnerID != c.UserID {
		if !c.IsAdmin() {
			return nil, &switchyard.Error{Code: switchyard.EFORBIDDEN, Field: "input.ownerId", Message: "only admins create projects for someone else"}
		}
		owner = *input.OwnerID
	}
	if err := input.Validate(); err != nil {
		return nil, err
	}
	ownerNotFound := &switchyard.Error{Code: switchyard.ENOTFOUND, Field: "input.ownerId", Message: "owner not found"}
	if !validID(owner) {
		return nil, ownerNotFound
	}
	var p *switchyard.Project
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		// The share lock keeps DeleteUser from deleting the owner before this
		// commits; DeleteUser's own lock makes this wait and see the deletion.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL FOR SHARE`, owner).Scan(&one)
		if isNoRows(err) {
			return ownerNotFound
		}
		if err != nil {
			return err
		}
		p, err = scanProject(tx.QueryRow(ctx, `INSERT INTO projects AS p (name, description, owner_id) VALUES ($1, $2, $3)
			RETURNING `+projectColumns, input.Name, emptyToNil(input.Description), owner))
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, projectEvent(switchyard.EventProjectCreated, p, c), p)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// lockProject reads the project with id readable by c, checks that c may
// change it, and locks its row until tx ends, so concurrent changes to one
// project and its members apply one after the other. NO KEY UPDATE rather
// than UPDATE: it serializes those changes just as well without making order
// inserts, whose foreign key check share-locks the project, wait for them. A DELETED project (which
// only admins can read) is kept for the record and refuses changes with
// ECONFLICT unless allowDeleted.
func lockProject(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, id string, allowDeleted bool) (*switchyard.Project, error) {
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM projects p WHERE p.id = %s AND %s FOR NO KEY UPDATE OF p`, projectColumns, ps.add(id), canReadProject(c, "p", &ps))
	p, err := scanProject(tx.QueryRow(ctx, q, ps...))
	if isNoRows(err) {
		return nil, projectNotFound()
	}
	if err != nil {
		return nil, err
	}
	if !canChangeProject(c, p) {
		return nil, switchyard.Errorf(switchyard.EFORBIDDEN, "only the project's owner or an admin changes it")
	}
	if p.Status == switchyard.ProjectDeleted && !allowDeleted {
		return nil, switchyard.Errorf(switchyard.ECONFLICT, "the project is deleted")
	}
	return p, nil
}

// changeProject runs change on the locked project with id and, when it
// reports a change, writes the event of type typ with the project's new
// state. It returns the project as it is after the change.
func (s *ProjectService) changeProject(ctx context.Context, id string, allowDeleted bool, change func(tx pgx.Tx, c *switchyard.Caller, p *switchyard.Project) (*switchyard.Project, *switchyard.Event, error)) (*switchyard.Project, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, projectNotFound()
	}
	var out *switchyard.Project
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		p, err := lockProject(ctx, tx, c, id, allowDeleted)
		if err != nil {
			return err
		}
		next, ev, err := change(tx, c, p)
		if err != nil {
			return err
		}
		out = next
		if ev == nil {
			return nil
		}
		return insertEvent(ctx, tx, *ev, next)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// setProject writes a project's name, description and status and bumps
// updated_at.
func setProject(ctx context.Context, tx pgx.Tx, p *switchyard.Project) (*switchyard.Project, error) {
	return scanProject(tx.QueryRow(ctx, `UPDATE projects AS p SET name = $2, description = $3, status = $4, updated_at = now()
		WHERE p.id = $1 RETURNING `+projectColumns, p.ID, p.Name, p.Description, p.Status))
}

// UpdateProject changes a project's name, description or status. A change
// that changes nothing writes nothing.
func (s *ProjectService) UpdateProject(ctx context.Context, id string, input switchyard.ProjectUpdate) (*switchyard.Project, error) {
	if _, err := switchyard.RequireCaller(ctx); err != nil {
		return nil, err
	}
	if err := input.Validate(); err != nil {
		return nil, err
	}
	return s.changeProject(ctx, id, false, func(tx pgx.Tx, c *switchyard.Caller, old *switchyard.Project) (*switchyard.Project, *switchyard.Event, error) {
		next := *old
		if input.Name != nil {
			next.Name = *input.Name
		}
		if input.Description != nil {
			next.Description = emptyToNil(input.Description)
		}
		if input.Status != nil {
			next.Status = *input.Status
		}
		if next.Name == old.Name && next.Status == old.Status && equalPtr(next.Description, old.Description) {
			return old, nil, nil
		}
		p, err := setProject(ctx, tx, &next)
		if err != nil {
			return nil, nil, err
		}
		ev := projectEvent(switchyard.EventProjectUpdated, p, c)
		return p, &ev, nil
	})
}

// ArchiveProject sets a project ARCHIVED; archiving it again changes nothing.
func (s *ProjectService) ArchiveProject(ctx context.Context, id string) (*switchyard.Project, error) {
	return s.setStatus(ctx, id, switchyard.ProjectArchived)
}

// DeleteProject sets a project DELETED; its orders stay. Deleting it again
// changes nothing.
func (s *ProjectService) DeleteProject(ctx context.Context, id string) (*switchyard.Project, error) {
	return s.setStatus(ctx, id, switchyard.ProjectDeleted)
}

func (s *ProjectService) setStatus(ctx context.Context, id string, status switchyard.ProjectStatus) (*switchyard.Project, error) {
	return s.changeProject(ctx, id, status == switchyard.ProjectDeleted, func(tx pgx.Tx, c *switchyard.Caller, old *switchyard.Project) (*switchyard.Project, *switchyard.Event, error) {
		if old.Status == status {
			return old, nil, nil
		}
		next := *old
		next.Status = status
		p, err := setProject(ctx, tx, &next)
		if err != nil {
			return nil, nil, err
		}
		ev := projectEvent(switchyard.EventProjectUpdated, p, c)
		return p, &ev, nil
	})
}

// AddProjectMember adds userID to the project; adding a member twice changes
// nothing. Any existing user may be added, not only those the caller can
// read: an owner adds people they do not share a project with yet.
func (s *ProjectService) AddProjectMember(ctx context.Context, projectID, userID string) (*switchyard.Project, error) {
	return s.changeProject(ctx, projectID, false, func(tx pgx.Tx, c *switchyard.Caller, p *switchyard.Project) (*switchyard.Project, *switchyard.Event, error) {
		if !validID(userID) {
			return nil, nil, userNotFound()
		}
		// The share lock keeps DeleteUser from deleting the user, and so
		// missing this membership, before this commits.
		var canonical string
		err := tx.QueryRow(ctx, `SELECT id::text FROM users WHERE id = $1 AND deleted_at IS NULL FOR SHARE`, userID).Scan(&canonical)
		if isNoRows(err) {
			return nil, nil, userNotFound()
		}
		if err != nil {
			return nil, nil, err
		}
		if canonical == p.OwnerID {
			return nil, nil, switchyard.InvalidField("userId", "the owner of a project cannot also be its member")
		}
		tag, err := tx.Exec(ctx, `INSERT INTO project_members (project_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, p.ID, canonical)
		if err != nil {
			return nil, nil, err
		}
		if tag.RowsAffected() == 0 {
			return p, nil, nil
		}
		if p, err = touchProject(ctx, tx, p.ID); err != nil {
			return nil, nil, err
		}
		if err := notifyMemberAdded(ctx, tx, c, p, canonical); err != nil {
			return nil, nil, err
		}
		ev := memberEvent(switchyard.EventProjectMemberAdded, p, canonical, c)
		return p, &ev, nil
	})
}

// RemoveProjectMember removes userID from the project; removing a non-member
// changes nothing.
func (s *ProjectService) RemoveProjectMember(ctx context.Context, projectID, userID string) (*switchyard.Project, error) {
	return s.changeProject(ctx, projectID, false, func(tx pgx.Tx, c *switchyard.Caller, p *switchyard.Project) (*switchyard.Project, *switchyard.Event, error) {
		if !validID(userID) {
			return nil, nil, userNotFound()
		}
		var removed string
		err := tx.QueryRow(ctx, `DELETE FROM project_members WHERE project_id = $1 AND user_id = $2 RETURNING user_id::text`, p.ID, userID).Scan(&removed)
		if isNoRows(err) {
			return p, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if p, err = touchProject(ctx, tx, p.ID); err != nil {
			return nil, nil, err
		}
		ev := memberEvent(switchyard.EventProjectMemberRemoved, p, removed, c)
		return p, &ev, nil
	})
}

// touchProject bumps updated_at: who belongs to a project is part of it.
func touchProject(ctx context.Context, tx pgx.Tx, id string) (*switchyard.Project, error) {
	return scanProject(tx.QueryRow(ctx, `UPDATE projects AS p SET updated_at = now() WHERE p.id = $1 RETURNING `+projectColumns, id))
}
