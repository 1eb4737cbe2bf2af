package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// IntegrationService implements switchyard.IntegrationService, and the two
// ports that run without a person behind them: switchyard.APIKeyResolver
// (authentication) and switchyard.IntegrationSecrets (the webhook machinery).
//
// Signing secrets are sealed with AES-256-GCM (secretbox.go) before they
// reach the database and opened only by SigningSecrets; API keys are kept as
// SHA-256 digests. Neither is ever read back into an Integration, an error,
// an event or a log line.
type IntegrationService struct {
	db     *DB
	box    *secretBox
	grace  time.Duration
	policy switchyard.EndpointPolicy
}

var (
	_ switchyard.IntegrationService = (*IntegrationService)(nil)
	_ switchyard.APIKeyResolver     = (*IntegrationService)(nil)
	_ switchyard.IntegrationSecrets = (*IntegrationService)(nil)
)

// IntegrationOptions configure NewIntegrationService.
type IntegrationOptions struct {
	// SecretKey encrypts signing secrets: 32 bytes, from ParseSecretKey.
	SecretKey []byte
	// SecretGracePeriod is how long a rotated secret keeps verifying;
	// zero means switchyard.DefaultSecretGracePeriod.
	SecretGracePeriod time.Duration
	// AllowPrivateEndpoints admits loopback and private endpoint URLs
	// (SWITCHYARD_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivateEndpoints bool
}

// NewIntegrationService returns the integration service over db.
func NewIntegrationService(db *DB, opts IntegrationOptions) (*IntegrationService, error) {
	box, err := newSecretBox(opts.SecretKey)
	if err != nil {
		return nil, err
	}
	grace := opts.SecretGracePeriod
	if grace == 0 {
		grace = switchyard.DefaultSecretGracePeriod
	}
	if grace < 0 {
		return nil, errors.New("integrations: negative secret grace period")
	}
	return &IntegrationService{db: db, box: box, grace: grace, policy: switchyard.EndpointPolicy{AllowPrivate: opts.AllowPrivateEndpoints}}, nil
}

// integrationColumns are the columns scanIntegration reads, over alias i.
const integrationColumns = `i.id::text, i.project_id::text, i.name, i.provider, i.direction, i.status, i.criticality,
	i.owner_id::text, i.event_types, i.endpoint_url, i.secret_hint, i.created_at, i.updated_at`

func scanIntegration(row pgx.Row, extra ...any) (*switchyard.Integration, error) {
	var i switchyard.Integration
	dest := append([]any{&i.ID, &i.ProjectID, &i.Name, &i.Provider, &i.Direction, &i.Status, &i.Criticality,
		&i.OwnerID, &i.EventTypes, &i.EndpointURL, &i.SecretHint, &i.CreatedAt, &i.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if i.EventTypes == nil {
		i.EventTypes = []string{}
	}
	return &i, nil
}

func integrationNotFound(field string) error {
	return &switchyard.Error{Code: switchyard.ENOTFOUND, Field: field, Message: "integration not found"}
}

func errNotIntegrationManager() error {
	return switchyard.Errorf(switchyard.EFORBIDDEN, "only the project's owner or an admin manages its integrations")
}

// FindIntegrationByID returns the readable integration with id.
func (s *IntegrationService) FindIntegrationByID(ctx context.Context, id string) (*switchyard.Integration, error) {
	c := switchyard.CallerFromContext(ctx)
	if c == nil || !validID(id) {
		return nil, integrationNotFound("")
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM integrations i WHERE i.id = %s AND %s`, integrationColumns, ps.add(id), canReadIntegration(c, "i", &ps))
	i, err := scanIntegration(s.db.pool.QueryRow(ctx, q, ps...))
	if isNoRows(err) {
		return nil, integrationNotFound("")
	}
	return i, translate(err)
}

// FindIntegrationsByIDs returns the readable integrations among ids.
func (s *IntegrationService) FindIntegrationsByIDs(ctx context.Context, ids []string) ([]*switchyard.Integration, error) {
	c := switchyard.CallerFromContext(ctx)
	ids = batchIDs(ids)
	if c == nil || len(ids) == 0 {
		return []*switchyard.Integration{}, nil
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM integrations i WHERE i.id = ANY(%s::uuid[]) AND %s`, integrationColumns, ps.add(ids), canReadIntegration(c, "i", &ps))
	list, err := queryAll(ctx, s.db.pool, q, ps, rowOf(scanIntegration))
	return list, translate(err)
}

// integrationSortKey is newest first, the order of every integration list.
var integrationSortKey = sortKey{name: "integrations.created_at", column: "i.created_at", cast: "timestamptz", idColumn: "i.id", desc: true}

// integrationConditions is the WHERE clause of the integration lists and
// counts: readable by c and matching f.
func integrationConditions(c *switchyard.Caller, f switchyard.IntegrationFilter, ps *params) string {
	conds := []string{canReadIntegration(c, "i", ps)}
	if f.ProjectID != nil {
		if !validID(*f.ProjectID) {
			return "FALSE"
		}
		conds = append(conds, "i.project_id = "+ps.add(*f.ProjectID)+"::uuid")
	}
	return strings.Join(conds, " AND ")
}

func integrationConnection(ks keyset, list []sortedRow[*switchyard.Integration], f switchyard.IntegrationFilter) *switchyard.IntegrationConnection {
	edges, info := pageEdges(ks, list, func(i *switchyard.Integration) string { return i.ID }, func(cursor string, i *switchyard.Integration) switchyard.IntegrationEdge {
		return switchyard.IntegrationEdge{Cursor: cursor, Node: i}
	})
	return &switchyard.IntegrationConnection{Edges: edges, PageInfo: info, Filter: f}
}

// FindIntegrations returns one keyset page of the readable integrations
// matching filter, newest first.
func (s *IntegrationService) FindIntegrations(ctx context.Context, filter switchyard.IntegrationFilter, page switchyard.PageArgs) (*switchyard.IntegrationConnection, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	var ps params
	where := integrationConditions(c, filter, &ps)
	ks := keyset{key: integrationSortKey, args: page}
	q, err := ks.selectPage(integrationColumns, "integrations i", where, &ps)
	if err != nil {
		return nil, err
	}
	list, err := queryAll(ctx, s.db.pool, q, ps, withSortValue(scanIntegration))
	if err != nil {
		return nil, listQueryError(err, page)
	}
	return integrationConnection(ks, list, filter), nil
}

// FindIntegrationsByProjects returns, for each project id, one page of its
// readable integrations in one statement: a lateral subquery per parent
// applies the keyset condition and LIMIT, and row_number keeps each parent's
// scan order.
func (s *IntegrationService) FindIntegrationsByProjects(ctx context.Context, projectIDs []string, page switchyard.PageArgs) (map[string]*switchyard.IntegrationConnection, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	ks := keyset{key: integrationSortKey, args: page}
	var ps params
	cond, orderBy, limit, err := ks.clause(&ps)
	if err != nil {
		return nil, err
	}
	ids := batchIDs(projectIDs)
	out := make(map[string]*switchyard.IntegrationConnection, len(projectIDs))
	var byParent map[string][]sortedRow[*switchyard.Integration]
	if len(ids) > 0 {
		q := fmt.Sprintf(`SELECT parent.id::text, x.* FROM unnest(%s::uuid[]) WITH ORDINALITY AS parent(id, ord)
			CROSS JOIN LATERAL (
				SELECT %s, %s AS sort_value, row_number() OVER (ORDER BY %s) AS rn
				FROM integrations i
				WHERE i.project_id = parent.id AND %s AND %s
				ORDER BY %s LIMIT %d
			) x
			ORDER BY parent.ord, x.rn`,
			ps.add(ids), integrationColumns, ks.sortValueSQL(), orderBy, canReadIntegration(c, "i", &ps), cond, orderBy, limit)
		rows, err := queryAll(ctx, s.db.pool, q, ps, func(r pgx.CollectableRow) (parentRow[*switchyard.Integration], error) {
			var pr parentRow[*switchyard.Integration]
			var rn int64
			var err error
			pr.node, err = scanIntegration(prefixRow{r, &pr.parent}, &pr.value, &rn)
			return pr, err
		})
		if err != nil {
			return nil, listQueryError(err, page)
		}
		byParent = groupByParent(rows)
	}
	for _, id := range validIDs(projectIDs) {
		pid := id
		out[id] = integrationConnection(ks, byParent[strings.ToLower(id)], switchyard.IntegrationFilter{ProjectID: &pid})
	}
	return out, nil
}

// CountIntegrations counts the readable integrations matching filter.
func (s *IntegrationService) CountIntegrations(ctx context.Context, filter switchyard.IntegrationFilter) (int, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return 0, err
	}
	var ps params
	var n int
	err = s.db.pool.QueryRow(ctx, "SELECT count(*) FROM integrations i WHERE "+integrationConditions(c, filter, &ps), ps...).Scan(&n)
	return n, translate(err)
}

// integrationEvent describes a change to i for the event log. It names no
// user: the project's members and admins see it, as they read i.
func integrationEvent(typ string, i *switchyard.Integration, c *switchyard.Caller) switchyard.Event {
	projectID := i.ProjectID
	return switchyard.Event{Type: typ, SubjectType: "integration", SubjectID: i.ID, ProjectID: &projectID, ActorID: actorID(c)}
}

// newSigningSecret generates a signing secret: 256 random bits.
func newSigningSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("signing secret: %w", err)
	}
	return switchyard.SigningSecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// newUUID returns a random (version 4) UUID. Secret rows get their id before
// insert because the id is part of the ciphertext's additional data.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// storeSecret seals secret and inserts it as the integration's current one.
func (s *IntegrationService) storeSecret(ctx context.Context, tx pgx.Tx, integrationID, secret string) error {
	id, err := newUUID()
	if err != nil {
		return err
	}
	ct, nonce, err := s.box.seal([]byte(secret), secretAAD(integrationID, id))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO integration_secrets (id, integration_id, ciphertext, nonce, key_id) VALUES ($1, $2, $3, $4, $5)`,
		id, integrationID, ct, nonce, s.box.keyID)
	return err
}

// secretFor returns the given secret, or a generated one.
func secretFor(given *string) (string, error) {
	if given != nil {
		return *given, nil
	}
	return newSigningSecret()
}

// CreateIntegration creates an ACTIVE integration and its signing secret in
// one transaction, with its integration.created event.
func (s *IntegrationService) CreateIntegration(ctx context.Context, input switchyard.IntegrationCreate) (*switchyard.IntegrationWithSecret, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := input.Validate(s.policy); err != nil {
		return nil, err
	}
	projectID := strings.ToLower(strings.TrimSpace(input.ProjectID))
	projectNotFound := &switchyard.Error{Code: switchyard.ENOTFOUND, Field: "input.projectId", Message: "project not found"}
	if !validID(projectID) {
		return nil, projectNotFound
	}
	secret, err := secretFor(input.Secret)
	if err != nil {
		return nil, err
	}
	var created *switchyard.Integration
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		// The share lock keeps the project from being archived or deleted
		// before the integration commits.
		var ps params
		q := fmt.Sprintf(`SELECT %s FROM projects p WHERE p.id = %s AND %s FOR SHARE OF p`, projectColumns, ps.add(projectID), canReadProject(c, "p", &ps))
		p, err := scanProject(tx.QueryRow(ctx, q, ps...))
		if isNoRows(err) {
			return projectNotFound
		}
		if err != nil {
			return err
		}
		if !canChangeProject(c, p) {
			return errNotIntegrationManager()
		}
		if p.Status != switchyard.ProjectActive {
			return switchyard.InvalidField("input.projectId", "the project is %s; integrations can only be added to an ACTIVE project", p.Status)
		}
		// The owner is the creator when they are a user; a system principal
		// (an admin acting for a job) leaves it to the project's owner.
		created, err = scanIntegration(tx.QueryRow(ctx, `INSERT INTO integrations AS i
				(project_id, name, provider, direction, criticality, owner_id, event_types, endpoint_url, secret_hint)
			VALUES ($1, $2, $3, $4, $5,
				coalesce((SELECT u.id FROM users u WHERE u.id = $6::uuid AND u.deleted_at IS NULL), $7::uuid),
				$8, $9, $10)
			RETURNING `+integrationColumns,
			p.ID, input.Name, input.Provider, input.Direction, input.Criticality, nilIfNotID(c.UserID), p.OwnerID,
			input.EventTypes, input.EndpointURL, switchyard.SecretHint(secret)))
		if err != nil {
			return err
		}
		if err := s.storeSecret(ctx, tx, created.ID, secret); err != nil {
			return err
		}
		return insertEvent(ctx, tx, integrationEvent(switchyard.EventIntegrationCreated, created, c), created)
	})
	if err != nil {
		return nil, err
	}
	return &switchyard.IntegrationWithSecret{Integration: created, Secret: secret}, nil
}

// nilIfNotID is id when it can name a row, else nil, for optional uuid
// parameters.
func nilIfNotID(id string) *string {
	if !validID(id) {
		return nil
	}
	return &id
}

// lockIntegration reads the integration with id readable by c, checks that c
// manages it (the project's owner or an admin), and locks its row until tx
// ends, so changes to one integration apply one after the other.
func lockIntegration(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, id, field string) (*switchyard.Integration, error) {
	var ps params
	q := fmt.Sprintf(`SELECT %s, p.owner_id::text FROM integrations i JOIN projects p ON p.id = i.project_id
		WHERE i.id = %s AND %s FOR NO KEY UPDATE OF i`, integrationColumns, ps.add(id), canReadIntegration(c, "i", &ps))
	var projectOwner string
	i, err := scanIntegration(tx.QueryRow(ctx, q, ps...), &projectOwner)
	if isNoRows(err) {
		return nil, integrationNotFound(field)
	}
	if err != nil {
		return nil, err
	}
	if !c.IsAdmin() && (c.IsPartner() || projectOwner != c.UserID) {
		return nil, errNotIntegrationManager()
	}
	return i, nil
}

// changeIntegration runs change on the locked integration with id and, when
// it reports an event type, writes that event with the integration as it is
// after the change.
func (s *IntegrationService) changeIntegration(ctx context.Context, id string, change func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Integration) (*switchyard.Integration, string, error)) (*switchyard.Integration, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, integrationNotFound("id")
	}
	var out *switchyard.Integration
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := lockIntegration(ctx, tx, c, id, "id")
		if err != nil {
			return err
		}
		next, eventType, err := change(tx, c, cur)
		if err != nil {
			return err
		}
		out = next
		if eventType == "" {
			return nil
		}
		return insertEvent(ctx, tx, integrationEvent(eventType, next, c), next)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateIntegration changes an integration's settings; a change that changes
// nothing writes nothing.
func (s *IntegrationService) UpdateIntegration(ctx context.Context, id string, input switchyard.IntegrationUpdate) (*switchyard.Integration, error) {
	if _, err := switchyard.RequireCaller(ctx); err != nil {
		return nil, err
	}
	if err := input.Validate(s.policy); err != nil {
		return nil, err
	}
	return s.changeIntegration(ctx, id, func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Integration) (*switchyard.Integration, string, error) {
		next := input.Apply(*cur)
		if err := switchyard.CheckIntegration(&next); err != nil {
			return nil, "", err
		}
		if sameSettings(cur, &next) {
			return cur, "", nil
		}
		i, err := scanIntegration(tx.QueryRow(ctx, `UPDATE integrations AS i SET name = $2, direction = $3, criticality = $4,
				event_types = $5, endpoint_url = $6, updated_at = now()
			WHERE i.id = $1 RETURNING `+integrationColumns,
			cur.ID, next.Name, next.Direction, next.Criticality, next.EventTypes, next.EndpointURL))
		return i, switchyard.EventIntegrationUpdated, err
	})
}

func sameSettings(a, b *switchyard.Integration) bool {
	if a.Name != b.Name || a.Direction != b.Direction || a.Criticality != b.Criticality || !equalPtr(a.EndpointURL, b.EndpointURL) {
		return false
	}
	if len(a.EventTypes) != len(b.EventTypes) {
		return false
	}
	for i := range a.EventTypes {
		if a.EventTypes[i] != b.EventTypes[i] {
			return false
		}
	}
	return true
}

// RotateIntegrationSecret makes a new current secret. The secrets still
// verifying keep doing so until now + the grace period at the latest (an
// earlier end stays), and those whose grace has ended are removed.
func (s *IntegrationService) RotateIntegrationSecret(ctx context.Context, id string, given *string) (*switchyard.IntegrationWithSecret, error) {
	if _, err := switchyard.RequireCaller(ctx); err != nil {
		return nil, err
	}
	if given != nil {
		if err := switchyard.ValidateSigningSecret("secret", *given); err != nil {
			return nil, err
		}
	}
	secret, err := secretFor(given)
	if err != nil {
		return nil, err
	}
	i, err := s.changeIntegration(ctx, id, func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Integration) (*switchyard.Integration, string, error) {
		_, err := tx.Exec(ctx, `DELETE FROM integration_secrets WHERE integration_id = $1 AND valid_until <= now()`, cur.ID)
		if err != nil {
			return nil, "", err
		}
		_, err = tx.Exec(ctx, `UPDATE integration_secrets
			SET valid_until = least(coalesce(valid_until, 'infinity'), now() + make_interval(secs => $2))
			WHERE integration_id = $1`, cur.ID, s.grace.Seconds())
		if err != nil {
			return nil, "", err
		}
		if err := s.storeSecret(ctx, tx, cur.ID, secret); err != nil {
			return nil, "", err
		}
		i, err := scanIntegration(tx.QueryRow(ctx, `UPDATE integrations AS i SET secret_hint = $2, updated_at = now()
			WHERE i.id = $1 RETURNING `+integrationColumns, cur.ID, switchyard.SecretHint(secret)))
		return i, switchyard.EventIntegrationUpdated, err
	})
	if err != nil {
		return nil, err
	}
	return &switchyard.IntegrationWithSecret{Integration: i, Secret: secret}, nil
}

// PauseIntegration sets it PAUSED; pausing it again changes nothing.
func (s *IntegrationService) PauseIntegration(ctx context.Context, id string) (*switchyard.Integration, error) {
	return s.changeIntegration(ctx, id, func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Integration) (*switchyard.Integration, string, error) {
		if cur.Status == switchyard.IntegrationPaused {
			return cur, "", nil
		}
		i, err := scanIntegration(tx.QueryRow(ctx, `UPDATE integrations AS i SET status = 'PAUSED', updated_at = now()
			WHERE i.id = $1 RETURNING `+integrationColumns, cur.ID))
		return i, switchyard.EventIntegrationUpdated, err
	})
}

// ResumeIntegration sets it ACTIVE and clears the failure run; resuming an
// ACTIVE one changes nothing.
func (s *IntegrationService) ResumeIntegration(ctx context.Context, id string) (*switchyard.Integration, error) {
	return s.changeIntegration(ctx, id, func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Integration) (*switchyard.Integration, string, error) {
		if cur.Status == switchyard.IntegrationActive {
			return cur, "", nil
		}
		i, err := scanIntegration(tx.QueryRow(ctx, `UPDATE integrations AS i SET status = 'ACTIVE', consecutive_failures = 0, updated_at = now()
			WHERE i.id = $1 RETURNING `+integrationColumns, cur.ID))
		return i, switchyard.EventIntegrationUpdated, err
	})
}

// DeleteIntegration deletes it; its secrets, keys and deliveries go with it
// (ON DELETE CASCADE).
func (s *IntegrationService) DeleteIntegration(ctx context.Context, id string) (*switchyard.Integration, error) {
	return s.changeIntegration(ctx, id, func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Integration) (*switchyard.Integration, string, error) {
		if _, err := tx.Exec(ctx, `DELETE FROM integrations WHERE id = $1`, cur.ID); err != nil {
			return nil, "", err
		}
		return cur, switchyard.EventIntegrationDeleted, nil
	})
}

// LookupIntegration returns the integration with id without access rules:
// the webhook machinery asks, not a person.
func (s *IntegrationService) LookupIntegration(ctx context.Context, id string) (*switchyard.Integration, error) {
	if !validID(id) {
		return nil, integrationNotFound("")
	}
	i, err := scanIntegration(s.db.pool.QueryRow(ctx, `SELECT `+integrationColumns+` FROM integrations i WHERE i.id = $1`, id))
	if isNoRows(err) {
		return nil, integrationNotFound("")
	}
	return i, translate(err)
}

// SigningSecrets opens the integration's secrets that verify now, the
// current one first. A secret that does not open is an internal error whose
// text names the cause, never the secret.
func (s *IntegrationService) SigningSecrets(ctx context.Context, integrationID string) ([]switchyard.Secret, error) {
	if !validID(integrationID) {
		return nil, integrationNotFound("")
	}
	type sealed struct {
		id, keyID         string
		ciphertext, nonce []byte
		validUntil        *time.Time
	}
	rows, err := queryAll(ctx, s.db.pool, `SELECT x.id::text, x.key_id, x.ciphertext, x.nonce, x.valid_until
		FROM integrations i JOIN integration_secrets x ON x.integration_id = i.id
		WHERE i.id = $1 AND (x.valid_until IS NULL OR x.valid_until > now())
		ORDER BY x.valid_until IS NULL DESC, x.created_at DESC, x.id`, []any{integrationID},
		func(r pgx.CollectableRow) (sealed, error) {
			var s sealed
			err := r.Scan(&s.id, &s.keyID, &s.ciphertext, &s.nonce, &s.validUntil)
			return s, err
		})
	if err != nil {
		return nil, translate(err)
	}
	if len(rows) == 0 {
		// Every integration has a current secret, so no row means no
		// integration.
		return nil, integrationNotFound("")
	}
	out := make([]switchyard.Secret, 0, len(rows))
	for _, r := range rows {
		plain, err := s.box.open(r.ciphertext, r.nonce, secretAAD(integrationID, r.id), r.keyID)
		if err != nil {
			return nil, fmt.Errorf("integration %s secret %s: %w", integrationID, r.id, err)
		}
		sec := switchyard.Secret{Value: string(plain)}
		if r.validUntil != nil {
			sec.ValidUntil = *r.validUntil
		}
		out = append(out, sec)
	}
	return out, nil
}
