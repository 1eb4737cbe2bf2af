package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// API keys are switchyard.APIKeyPrefix followed by 32 random bytes in
// unpadded base64url. Only their SHA-256 is stored: a key is a 256-bit random
// token, not a password, so nothing can be guessed from a fast digest, while
// a slow password hash would cost every request. The digest is looked up
// through a unique index; a database read never yields a usable key.

// apiKeyPrefixLen is how much of a key is kept to recognise it in a list:
// the fixed prefix and 4 random characters, 24 bits, which say nothing
// useful about the other 232.
const apiKeyPrefixLen = len(switchyard.APIKeyPrefix) + 4

// maxAPIKeyLen bounds what is worth hashing and looking up.
const maxAPIKeyLen = 128

// apiKeyTouchInterval limits the last_used_at write to one per key per
// interval, so authenticating is a read nearly always.
const apiKeyTouchInterval = "1 minute"

func apiKeyHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

const apiKeyColumns = `k.id::text, k.integration_id::text, k.scopes, k.prefix, k.created_at, k.last_used_at, k.revoked_at`

func scanAPIKey(row pgx.Row, extra ...any) (*switchyard.APIKey, error) {
	var k switchyard.APIKey
	var scopes []string
	dest := append([]any{&k.ID, &k.IntegrationID, &scopes, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	k.Scopes = make([]switchyard.APIKeyScope, len(scopes))
	for i, s := range scopes {
		k.Scopes[i] = switchyard.APIKeyScope(s)
	}
	return &k, nil
}

// normalizeScopes checks every scope is known and drops repeats.
func normalizeScopes(scopes []switchyard.APIKeyScope) ([]string, error) {
	if len(scopes) == 0 {
		return nil, switchyard.InvalidField("scopes", "an API key needs at least one scope; known: %s", scopeList())
	}
	out := make([]string, 0, len(scopes))
	for i, s := range scopes {
		if !s.Valid() {
			return nil, switchyard.InvalidField(fmt.Sprintf("scopes[%d]", i), "unknown scope %q; known: %s", s, scopeList())
		}
		if !slices.Contains(out, string(s)) {
			out = append(out, string(s))
		}
	}
	return out, nil
}

func scopeList() string {
	names := make([]string, len(switchyard.APIKeyScopes))
	for i, s := range switchyard.APIKeyScopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// CreateAPIKey makes a key for a partner of the integration and returns it
// this once.
func (s *IntegrationService) CreateAPIKey(ctx context.Context, integrationID string, scopes []switchyard.APIKeyScope) (*switchyard.APIKeyWithKey, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	clean, err := normalizeScopes(scopes)
	if err != nil {
		return nil, err
	}
	if !validID(integrationID) {
		return nil, integrationNotFound("integrationId")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("api key: %w", err)
	}
	key := switchyard.APIKeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	var created *switchyard.APIKey
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		i, err := lockIntegration(ctx, tx, c, integrationID, "integrationId")
		if err != nil {
			return err
		}
		created, err = scanAPIKey(tx.QueryRow(ctx, `INSERT INTO api_keys AS k (integration_id, key_hash, prefix, scopes, created_by)
			VALUES ($1, $2, $3, $4, (SELECT u.id FROM users u WHERE u.id = $5::uuid))
			RETURNING `+apiKeyColumns, i.ID, apiKeyHash(key), key[:apiKeyPrefixLen], clean, nilIfNotID(c.UserID)))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &switchyard.APIKeyWithKey{APIKey: created, Key: key}, nil
}

// RevokeAPIKey revokes a key; revoking it again keeps the first time.
func (s *IntegrationService) RevokeAPIKey(ctx context.Context, id string) (*switchyard.APIKey, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	notFound := &switchyard.Error{Code: switchyard.ENOTFOUND, Field: "id", Message: "API key not found"}
	if !validID(id) {
		return nil, notFound
	}
	var revoked *switchyard.APIKey
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		var integrationID string
		err := tx.QueryRow(ctx, `SELECT integration_id::text FROM api_keys WHERE id = $1`, id).Scan(&integrationID)
		if isNoRows(err) {
			return notFound
		}
		if err != nil {
			return err
		}
		if _, err := lockIntegration(ctx, tx, c, integrationID, "id"); err != nil {
			if switchyard.ErrorCode(err) == switchyard.ENOTFOUND {
				return notFound
			}
			return err
		}
		revoked, err = scanAPIKey(tx.QueryRow(ctx, `UPDATE api_keys AS k SET revoked_at = coalesce(k.revoked_at, now())
			WHERE k.id = $1 RETURNING `+apiKeyColumns, id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

// FindAPIKeys returns the keys of each readable integration, newest first.
func (s *IntegrationService) FindAPIKeys(ctx context.Context, integrationIDs []string) (map[string][]*switchyard.APIKey, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	ids := batchIDs(integrationIDs)
	out := make(map[string][]*switchyard.APIKey, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM api_keys k JOIN integrations i ON i.id = k.integration_id
		WHERE k.integration_id = ANY(%s::uuid[]) AND %s ORDER BY k.created_at DESC, k.id DESC`,
		apiKeyColumns, ps.add(ids), canReadIntegration(c, "i", &ps))
	list, err := queryAll(ctx, s.db.pool, q, ps, rowOf(scanAPIKey))
	if err != nil {
		return nil, translate(err)
	}
	byID := map[string][]*switchyard.APIKey{}
	for _, k := range list {
		byID[k.IntegrationID] = append(byID[k.IntegrationID], k)
	}
	for _, id := range validIDs(integrationIDs) {
		out[id] = byID[strings.ToLower(id)]
	}
	return out, nil
}

// ResolveAPIKey authenticates a key in one statement, which also records
// when it was last used (at most once per apiKeyTouchInterval).
func (s *IntegrationService) ResolveAPIKey(ctx context.Context, key string) (*switchyard.Caller, error) {
	unknown := switchyard.Errorf(switchyard.EUNAUTHENTICATED, "invalid API key")
	if !switchyard.IsAPIKey(key) || len(key) > maxAPIKeyLen {
		return nil, unknown
	}
	var (
		p      switchyard.PartnerCaller
		scopes []string
	)
	err := s.db.pool.QueryRow(ctx, `WITH k AS (
			SELECT k.id, k.integration_id, i.project_id, k.scopes, k.last_used_at
			FROM api_keys k
			JOIN integrations i ON i.id = k.integration_id
			JOIN projects p ON p.id = i.project_id
			WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND i.status <> 'PAUSED' AND p.status <> 'DELETED'
		), touched AS (
			UPDATE api_keys SET last_used_at = now()
			WHERE id IN (SELECT id FROM k WHERE last_used_at IS NULL OR last_used_at < now() - $2::interval)
		)
		SELECT id::text, integration_id::text, project_id::text, scopes FROM k`,
		apiKeyHash(key), apiKeyTouchInterval).Scan(&p.APIKeyID, &p.IntegrationID, &p.ProjectID, &scopes)
	if isNoRows(err) {
		return nil, unknown
	}
	if err != nil {
		return nil, translate(err)
	}
	for _, sc := range scopes {
		p.Scopes = append(p.Scopes, switchyard.APIKeyScope(sc))
	}
	return &switchyard.Caller{Partner: &p}, nil
}

// deliveryColumns are the columns scanDelivery reads, over alias d.
const deliveryColumns = `d.id::text, d.integration_id::text, d.direction, d.event_type,
	coalesce(d.provider_event_id, d.event_id::text), d.attempt, d.status, d.response_status, d.latency_ms, d.error,
	d.next_attempt_at, d.redelivery_of::text, d.created_at`

func scanDelivery(row pgx.Row, extra ...any) (*switchyard.WebhookDelivery, error) {
	var d switchyard.WebhookDelivery
	dest := append([]any{&d.ID, &d.IntegrationID, &d.Direction, &d.EventType, &d.EventID, &d.Attempt, &d.Status,
		&d.ResponseStatus, &d.LatencyMs, &d.Error, &d.NextAttemptAt, &d.RedeliveryOf, &d.CreatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &d, nil
}

// deliverySortKey is newest first, the order of every delivery list.
var deliverySortKey = sortKey{name: "deliveries.created_at", column: "d.created_at", cast: "timestamptz", idColumn: "d.id", desc: true}

func deliveryFilterSQL(f switchyard.DeliveryFilter, ps *params) string {
	conds := []string{"TRUE"}
	if len(f.Status) > 0 {
		st := make([]string, len(f.Status))
		for i, s := range f.Status {
			st[i] = string(s)
		}
		conds = append(conds, "d.status = ANY("+ps.add(st)+"::text[])")
	}
	if f.Direction != nil {
		conds = append(conds, "d.direction = "+ps.add(string(*f.Direction)))
	}
	return strings.Join(conds, " AND ")
}

// FindDeliveries returns, for each readable integration id, one page of its
// deliveries matching filter, newest first, in one statement. The parents
// are joined to the access rule first and the deliveries read with LEFT JOIN
// LATERAL, so a readable integration without deliveries answers an empty
// page and an unreadable one answers nothing.
func (s *IntegrationService) FindDeliveries(ctx context.Context, integrationIDs []string, filter switchyard.DeliveryFilter, page switchyard.PageArgs) (map[string]*switchyard.WebhookDeliveryConnection, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := filter.Validate(); err != nil {
		return nil, err
	}
	ks := keyset{key: deliverySortKey, args: page}
	var ps params
	cond, orderBy, limit, err := ks.clause(&ps)
	if err != nil {
		return nil, err
	}
	ids := batchIDs(integrationIDs)
	out := make(map[string]*switchyard.WebhookDeliveryConnection, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	q := fmt.Sprintf(`SELECT i.id::text, x.* FROM integrations i
		LEFT JOIN LATERAL (
			SELECT %s, %s AS sort_value, row_number() OVER (ORDER BY %s) AS rn
			FROM webhook_deliveries d
			WHERE d.integration_id = i.id AND %s AND %s
			ORDER BY %s LIMIT %d
		) x ON TRUE
		WHERE i.id = ANY(%s::uuid[]) AND %s
		ORDER BY i.id, x.rn`,
		deliveryColumns, ks.sortValueSQL(), orderBy, deliveryFilterSQL(filter, &ps), cond, orderBy, limit,
		ps.add(ids), canReadIntegration(c, "i", &ps))
	rows, err := queryAll(ctx, s.db.pool, q, ps, scanDeliveryRow)
	if err != nil {
		return nil, listQueryError(err, page)
	}
	byParent := groupByParent(rows)
	for _, id := range validIDs(integrationIDs) {
		list, readable := byParent[strings.ToLower(id)]
		if !readable {
			continue
		}
		edges, info := pageEdges(ks, list, func(d *switchyard.WebhookDelivery) string { return d.ID }, func(cursor string, d *switchyard.WebhookDelivery) switchyard.WebhookDeliveryEdge {
			return switchyard.WebhookDeliveryEdge{Cursor: cursor, Node: d}
		})
		out[id] = &switchyard.WebhookDeliveryConnection{Edges: edges, PageInfo: info, IntegrationID: id, Filter: filter}
	}
	return out, nil
}

// scanDeliveryRow scans a row of FindDeliveries: the parent, then a delivery
// whose columns are all NULL when the parent's page is empty.
func scanDeliveryRow(row pgx.CollectableRow) (parentRow[*switchyard.WebhookDelivery], error) {
	var (
		pr                                   parentRow[*switchyard.WebhookDelivery]
		id, integrationID, direction, evType *string
		attempt                              *int
		status, sortValue                    *string
		createdAt                            *time.Time
		rn                                   *int64
		d                                    switchyard.WebhookDelivery
	)
	err := row.Scan(&pr.parent, &id, &integrationID, &direction, &evType, &d.EventID, &attempt, &status,
		&d.ResponseStatus, &d.LatencyMs, &d.Error, &d.NextAttemptAt, &d.RedeliveryOf, &createdAt, &sortValue, &rn)
	if err != nil {
		return pr, err
	}
	if id == nil {
		pr.empty = true
		return pr, nil
	}
	d.ID, d.IntegrationID, d.Direction, d.EventType = *id, *integrationID, switchyard.DeliveryDirection(*direction), *evType
	d.Attempt, d.Status, d.CreatedAt = *attempt, switchyard.DeliveryStatus(*status), *createdAt
	pr.node, pr.value = &d, *sortValue
	return pr, nil
}

// CountDeliveries counts the deliveries of a readable integration matching
// filter.
func (s *IntegrationService) CountDeliveries(ctx context.Context, integrationID string, filter switchyard.DeliveryFilter) (int, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return 0, err
	}
	if err := filter.Validate(); err != nil {
		return 0, err
	}
	if !validID(integrationID) {
		return 0, nil
	}
	var ps params
	q := fmt.Sprintf(`SELECT count(*) FROM webhook_deliveries d JOIN integrations i ON i.id = d.integration_id
		WHERE d.integration_id = %s AND %s AND %s`, ps.add(integrationID), canReadIntegration(c, "i", &ps), deliveryFilterSQL(filter, &ps))
	var n int
	err = s.db.pool.QueryRow(ctx, q, ps...).Scan(&n)
	return n, translate(err)
}

func deliveryNotFound() error {
	return &switchyard.Error{Code: switchyard.ENOTFOUND, Field: "id", Message: "delivery not found"}
}

// FindDeliveryByID returns a delivery of a readable integration.
func (s *IntegrationService) FindDeliveryByID(ctx context.Context, id string) (*switchyard.WebhookDelivery, error) {
	c := switchyard.CallerFromContext(ctx)
	if c == nil || !validID(id) {
		return nil, deliveryNotFound()
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM webhook_deliveries d JOIN integrations i ON i.id = d.integration_id
		WHERE d.id = %s AND %s`, deliveryColumns, ps.add(id), canReadIntegration(c, "i", &ps))
	d, err := scanDelivery(s.db.pool.QueryRow(ctx, q, ps...))
	if isNoRows(err) {
		return nil, deliveryNotFound()
	}
	return d, translate(err)
}

// RedeliverWebhook queues an outbound delivery's payload again as a new
// PENDING attempt, due now. The integration's row lock serializes
// redeliveries, so two at once number their attempts apart.
func (s *IntegrationService) RedeliverWebhook(ctx context.Context, deliveryID string) (*switchyard.WebhookDelivery, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(deliveryID) {
		return nil, deliveryNotFound()
	}
	var queued *switchyard.WebhookDelivery
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		var integrationID, direction string
		var hasPayload bool
		err := tx.QueryRow(ctx, `SELECT integration_id::text, direction, payload IS NOT NULL FROM webhook_deliveries WHERE id = $1`, deliveryID).
			Scan(&integrationID, &direction, &hasPayload)
		if isNoRows(err) {
			return deliveryNotFound()
		}
		if err != nil {
			return err
		}
		if _, err := lockIntegration(ctx, tx, c, integrationID, "id"); err != nil {
			if switchyard.ErrorCode(err) == switchyard.ENOTFOUND {
				return deliveryNotFound()
			}
			return err
		}
		if switchyard.DeliveryDirection(direction) != switchyard.DeliveryOutbound {
			return switchyard.InvalidField("deliveryId", "only outbound deliveries can be redelivered; ask the provider to resend an inbound one")
		}
		if !hasPayload {
			return switchyard.InvalidField("deliveryId", "the delivery has no payload to send again")
		}
		queued, err = scanDelivery(tx.QueryRow(ctx, `INSERT INTO webhook_deliveries AS d
				(integration_id, direction, event_type, event_id, subject_key, attempt, status, payload, next_attempt_at, redelivery_of)
			SELECT o.integration_id, 'OUTBOUND', o.event_type, o.event_id, o.subject_key,
				(SELECT max(a.attempt) + 1 FROM webhook_deliveries a
				 WHERE a.integration_id = o.integration_id AND a.direction = 'OUTBOUND' AND a.event_id IS NOT DISTINCT FROM o.event_id
				   AND (o.event_id IS NOT NULL OR a.id = o.id)),
				'PENDING', o.payload, now(), o.id
			FROM webhook_deliveries o WHERE o.id = $1
			RETURNING `+deliveryColumns, deliveryID))
		return err
	})
	if err != nil {
		return nil, err
	}
	return queued, nil
}

// IntegrationHealth sums up each readable integration's deliveries in one
// statement. Finished deliveries count: SUCCEEDED and IGNORED (verified and
// acknowledged) as successes, FAILED and REJECTED (a wrong secret is the
// usual cause) as failures; PENDING ones have not happened yet.
func (s *IntegrationService) IntegrationHealth(ctx context.Context, integrationIDs []string) (map[string]*switchyard.IntegrationHealth, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	ids := batchIDs(integrationIDs)
	out := make(map[string]*switchyard.IntegrationHealth, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var ps params
	q := fmt.Sprintf(`SELECT i.id::text, i.consecutive_failures, h.ok, h.finished, l.last
		FROM integrations i
		CROSS JOIN LATERAL (
			SELECT count(*) FILTER (WHERE d.status IN ('SUCCEEDED', 'IGNORED')) AS ok,
			       count(*) FILTER (WHERE d.status <> 'PENDING') AS finished
			FROM webhook_deliveries d
			WHERE d.integration_id = i.id AND d.created_at >= now() - interval '24 hours'
		) h
		CROSS JOIN LATERAL (
			SELECT max(d.created_at) AS last FROM webhook_deliveries d
			WHERE d.integration_id = i.id AND d.status <> 'PENDING'
		) l
		WHERE i.id = ANY(%s::uuid[]) AND %s`, ps.add(ids), canReadIntegration(c, "i", &ps))
	type healthRow struct {
		id string
		h  switchyard.IntegrationHealth
	}
	rows, err := queryAll(ctx, s.db.pool, q, ps, func(r pgx.CollectableRow) (healthRow, error) {
		var (
			hr           healthRow
			ok, finished int64
		)
		if err := r.Scan(&hr.id, &hr.h.ConsecutiveFailures, &ok, &finished, &hr.h.LastDeliveryAt); err != nil {
			return hr, err
		}
		if finished > 0 {
			rate := float64(ok) / float64(finished)
			hr.h.SuccessRate24h = &rate
		}
		return hr, nil
	})
	if err != nil {
		return nil, translate(err)
	}
	byID := make(map[string]*switchyard.IntegrationHealth, len(rows))
	for i := range rows {
		byID[rows[i].id] = &rows[i].h
	}
	for _, id := range validIDs(integrationIDs) {
		if h, ok := byID[strings.ToLower(id)]; ok {
			out[id] = h
		}
	}
	return out, nil
}
