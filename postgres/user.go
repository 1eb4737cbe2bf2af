package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// UserService implements switchyard.UserService and switchyard.CallerResolver.
//
// Deleted users are soft-deleted (deleted_at): FindUserByID, FindUsers and
// CountUsers leave them out, because for everyone who asks by id or browses
// they are gone. FindUsersByIDs keeps them, because it is what resolves the
// users other rows point at, such as Order.customer, and an order placed by a
// since-deleted customer must still name who placed it.
type UserService struct {
	db *DB
}

var (
	_ switchyard.UserService    = (*UserService)(nil)
	_ switchyard.CallerResolver = (*UserService)(nil)
)

// NewUserService returns the user service over db.
func NewUserService(db *DB) *UserService { return &UserService{db: db} }

// userColumns are the columns scanUser reads, over the alias u.
const userColumns = "u.id, u.email, u.name, u.avatar_url, u.role, u.created_at, u.updated_at"

func scanUser(row pgx.Row, extra ...any) (*switchyard.User, error) {
	var u switchyard.User
	dest := append([]any{&u.ID, &u.Email, &u.Name, &u.AvatarURL, &u.Role, &u.CreatedAt, &u.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &u, nil
}

func userNotFound() error { return switchyard.Errorf(switchyard.ENOTFOUND, "user not found") }

// FindUserByID returns the readable, non-deleted user with id.
func (s *UserService) FindUserByID(ctx context.Context, id string) (*switchyard.User, error) {
	c := switchyard.CallerFromContext(ctx)
	if c == nil || !validID(id) {
		return nil, userNotFound()
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM users u WHERE u.id = %s AND u.deleted_at IS NULL AND %s`,
		userColumns, ps.add(id), canReadUser(c, "u", &ps))
	u, err := scanUser(s.db.pool.QueryRow(ctx, q, ps...))
	if isNoRows(err) {
		return nil, userNotFound()
	}
	return u, translate(err)
}

// FindUsersByIDs returns the readable users among ids, deleted ones included
// (see UserService).
func (s *UserService) FindUsersByIDs(ctx context.Context, ids []string) ([]*switchyard.User, error) {
	c := switchyard.CallerFromContext(ctx)
	ids = validIDs(ids)
	if c == nil || len(ids) == 0 {
		return []*switchyard.User{}, nil
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM users u WHERE u.id = ANY(%s::uuid[]) AND %s`,
		userColumns, ps.add(ids), canReadUser(c, "u", &ps))
	list, err := queryAll(ctx, s.db.pool, q, ps, rowOf(scanUser))
	return list, translate(err)
}

// ResolveCaller looks the user up by id without access rules: it runs before
// there is a caller, to turn a verified token's subject into one.
func (s *UserService) ResolveCaller(ctx context.Context, userID string) (*switchyard.Caller, error) {
	unknown := switchyard.Errorf(switchyard.EUNAUTHENTICATED, "the user of this credential no longer exists")
	if !validID(userID) {
		return nil, unknown
	}
	var c switchyard.Caller
	err := s.db.pool.QueryRow(ctx, `SELECT id, email, role FROM users WHERE id = $1 AND deleted_at IS NULL`, userID).
		Scan(&c.UserID, &c.Email, &c.Role)
	if isNoRows(err) {
		return nil, unknown
	}
	if err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// FindUserByEmail returns the non-deleted user with email, bypassing the
// access rules: it is a system lookup with no caller, made by the CLI's
// `token` command, which already holds the database credentials and mints
// tokens for a named user. It must never be reachable from the API, where it
// would let anyone probe which emails exist.
func (s *UserService) FindUserByEmail(ctx context.Context, email string) (*switchyard.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	u, err := scanUser(s.db.pool.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users u WHERE u.email = $1 AND u.deleted_at IS NULL`, email))
	if isNoRows(err) {
		return nil, switchyard.Errorf(switchyard.ENOTFOUND, "no user with email %q", email)
	}
	return u, translate(err)
}

// userSortKey maps an order to its keyset key. CREATED_AT defaults to newest
// first, names and emails to alphabetical.
func userSortKey(o switchyard.UserOrder) (sortKey, error) {
	k := sortKey{idColumn: "u.id"}
	switch o.Field {
	case switchyard.UserOrderCreatedAt, "":
		k.name, k.column, k.cast, k.desc = "users.created_at", "u.created_at", "timestamptz", true
	case switchyard.UserOrderName:
		k.name, k.column, k.cast = "users.name", "u.name", "text"
	case switchyard.UserOrderEmail:
		k.name, k.column, k.cast = "users.email", "u.email", "text"
	default:
		return k, switchyard.InvalidField("orderBy.field", "unknown order field %q", o.Field)
	}
	return k.withDirection(o.Direction)
}

// userConditions is the WHERE clause of FindUsers and CountUsers: not
// deleted, readable by c, and matching f.
func userConditions(c *switchyard.Caller, f switchyard.UserFilter, ps *params) (string, error) {
	conds := []string{"u.deleted_at IS NULL", canReadUser(c, "u", ps)}
	if f.Search != nil && *f.Search != "" {
		p := ps.add(likePattern(*f.Search))
		conds = append(conds, fmt.Sprintf(`(u.name ILIKE %[1]s ESCAPE '\' OR u.email ILIKE %[1]s ESCAPE '\')`, p))
	}
	if f.Role != nil {
		if !f.Role.Valid() {
			return "", switchyard.InvalidField("filter.role", "unknown role %q", *f.Role)
		}
		conds = append(conds, "u.role = "+ps.add(string(*f.Role)))
	}
	if f.CreatedAfter != nil {
		conds = append(conds, "u.created_at > "+ps.add(*f.CreatedAfter))
	}
	if f.CreatedBefore != nil {
		conds = append(conds, "u.created_at < "+ps.add(*f.CreatedBefore))
	}
	if f.MemberOfProjectID != nil {
		if !validID(*f.MemberOfProjectID) {
			return "FALSE", nil
		}
		// Membership of a project the caller may not read is not theirs to
		// learn, even about users they may read.
		conds = append(conds, fmt.Sprintf(`u.id IN (SELECT fm.user_id FROM project_members fm JOIN projects fp ON fp.id = fm.project_id
			WHERE fm.project_id = %s AND %s)`, ps.add(*f.MemberOfProjectID), canReadProject(c, "fp", ps)))
	}
	return strings.Join(conds, " AND "), nil
}

// likePattern makes s a substring pattern for ILIKE … ESCAPE '\', with the
// pattern characters in s matched literally.
func likePattern(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// FindUsers returns one keyset page of the readable users matching filter.
func (s *UserService) FindUsers(ctx context.Context, filter switchyard.UserFilter, page switchyard.PageArgs, order switchyard.UserOrder) (*switchyard.UserConnection, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	key, err := userSortKey(order)
	if err != nil {
		return nil, err
	}
	var ps params
	where, err := userConditions(c, filter, &ps)
	if err != nil {
		return nil, err
	}
	ks := keyset{key: key, args: page}
	q, err := ks.selectPage(userColumns, "users u", where, &ps)
	if err != nil {
		return nil, err
	}
	list, err := queryAll(ctx, s.db.pool, q, ps, withSortValue(scanUser))
	if err != nil {
		return nil, translate(err)
	}
	return userConnection(ks, list, filter), nil
}

func userConnection(ks keyset, list []sortedRow[*switchyard.User], f switchyard.UserFilter) *switchyard.UserConnection {
	edges, info := pageEdges(ks, list, func(u *switchyard.User) string { return u.ID }, func(cursor string, u *switchyard.User) switchyard.UserEdge {
		return switchyard.UserEdge{Cursor: cursor, Node: u}
	})
	return &switchyard.UserConnection{Edges: edges, PageInfo: info, Filter: f}
}

// CountUsers counts the readable, non-deleted users matching filter.
func (s *UserService) CountUsers(ctx context.Context, filter switchyard.UserFilter) (int, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return 0, err
	}
	var ps params
	where, err := userConditions(c, filter, &ps)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.db.pool.QueryRow(ctx, "SELECT count(*) FROM users u WHERE "+where, ps...).Scan(&n)
	return n, translate(err)
}

// CreateUser creates a user; admins only.
func (s *UserService) CreateUser(ctx context.Context, input switchyard.UserCreate) (*switchyard.User, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !c.IsAdmin() {
		return nil, switchyard.Errorf(switchyard.EFORBIDDEN, "only admins create users")
	}
	if err := input.Validate(); err != nil {
		return nil, err
	}
	var u *switchyard.User
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users AS u (email, name, avatar_url, role) VALUES ($1, $2, $3, $4)
			RETURNING `+userColumns, input.Email, input.Name, emptyToNil(input.AvatarURL), input.Role))
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, userEvent(switchyard.EventUserCreated, u, c), u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func userEvent(typ string, u *switchyard.User, c *switchyard.Caller) switchyard.Event {
	return switchyard.Event{Type: typ, SubjectType: "user", SubjectID: u.ID, UserIDs: []string{u.ID}, ActorID: actorID(c)}
}

// emptyToNil stores an empty optional text as NULL, so "" clears a field.
func emptyToNil(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// lockUser reads the non-deleted user with id readable by c and locks its
// row until tx ends, so concurrent changes to one user apply one after the
// other. The lock also conflicts with the share locks CreateProject and
// AddProjectMember take on the user they name, so neither can slip past a
// deletion; it does not block foreign key checks of unrelated inserts.
func lockUser(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, id string) (*switchyard.User, error) {
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM users u WHERE u.id = %s AND u.deleted_at IS NULL AND %s FOR NO KEY UPDATE OF u`,
		userColumns, ps.add(id), canReadUser(c, "u", &ps))
	u, err := scanUser(tx.QueryRow(ctx, q, ps...))
	if isNoRows(err) {
		return nil, userNotFound()
	}
	return u, err
}

// UpdateUser changes a user: admins anyone, members themselves but never a
// role. A change that changes nothing writes nothing.
func (s *UserService) UpdateUser(ctx context.Context, id string, input switchyard.UserUpdate) (*switchyard.User, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, userNotFound()
	}
	if err := input.Validate(); err != nil {
		return nil, err
	}
	var u *switchyard.User
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		old, err := lockUser(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if !c.IsAdmin() {
			if old.ID != c.UserID {
				return switchyard.Errorf(switchyard.EFORBIDDEN, "members change only their own profile")
			}
			if input.Role != nil && *input.Role != old.Role {
				return switchyard.Errorf(switchyard.EFORBIDDEN, "only admins change roles")
			}
		}
		next := *old
		if input.Email != nil {
			next.Email = *input.Email
		}
		if input.Name != nil {
			next.Name = *input.Name
		}
		if input.AvatarURL != nil {
			next.AvatarURL = emptyToNil(input.AvatarURL)
		}
		if input.Role != nil {
			next.Role = *input.Role
		}
		if next.Email == old.Email && next.Name == old.Name && next.Role == old.Role && equalPtr(next.AvatarURL, old.AvatarURL) {
			u = old
			return nil
		}
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE users AS u SET email = $2, name = $3, avatar_url = $4, role = $5, updated_at = now()
			WHERE u.id = $1 RETURNING `+userColumns, id, next.Email, next.Name, next.AvatarURL, next.Role))
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, userEvent(switchyard.EventUserUpdated, u, c), u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// DeleteUser soft-deletes a user and removes their project memberships. Admins
// only, never themselves, and never while the user owns a project that is not
// deleted: its owner would be gone.
func (s *UserService) DeleteUser(ctx context.Context, id string) error {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return err
	}
	if !c.IsAdmin() {
		return switchyard.Errorf(switchyard.EFORBIDDEN, "only admins delete users")
	}
	if !validID(id) {
		return userNotFound()
	}
	if id == c.UserID {
		return switchyard.Errorf(switchyard.EFORBIDDEN, "you cannot delete yourself")
	}
	return s.db.inTx(ctx, func(tx pgx.Tx) error {
		u, err := lockUser(ctx, tx, c, id)
		if err != nil {
			return err
		}
		// CreateProject takes a share lock on the owner's row, so with ours
		// held no project can gain this owner between this check and commit.
		var owns int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM projects WHERE owner_id = $1 AND status <> 'DELETED'`, id).Scan(&owns); err != nil {
			return err
		}
		if owns > 0 {
			return switchyard.Errorf(switchyard.ECONFLICT, "the user owns %d project(s); delete them first", owns)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, userEvent(switchyard.EventUserDeleted, u, c), u); err != nil {
			return err
		}
		// Each lost membership is a change to its project, announced like a
		// removal so subscribers of the project hear of it.
		projects, err := queryAll(ctx, tx, `WITH gone AS (DELETE FROM project_members WHERE user_id = $1 RETURNING project_id)
			SELECT `+projectColumns+` FROM projects p WHERE p.id IN (SELECT project_id FROM gone) ORDER BY p.id`, []any{id}, rowOf(scanProject))
		if err != nil {
			return err
		}
		for _, p := range projects {
			if err := insertEvent(ctx, tx, memberEvent(switchyard.EventProjectMemberRemoved, p, id, c), p); err != nil {
				return err
			}
		}
		return nil
	})
}
