package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// WebhookStore keeps webhook deliveries both ways: it implements
// switchyard.WebhookInbox for the inbound receiver and switchyard.WebhookOutbox
// for the outbound worker. Neither runs for a person, so neither takes a
// caller; the API reads deliveries through IntegrationService.
type WebhookStore struct {
	db *DB
}

var (
	_ switchyard.WebhookInbox  = (*WebhookStore)(nil)
	_ switchyard.WebhookOutbox = (*WebhookStore)(nil)
)

// NewWebhookStore returns the webhook store over db.
func NewWebhookStore(db *DB) *WebhookStore { return &WebhookStore{db: db} }

// OutboundCursor names the outbound worker's row in consumer_cursors.
const OutboundCursor = "webhooks:outbound"

func deliveryNotFoundPlain() error {
	return switchyard.Errorf(switchyard.ENOTFOUND, "delivery not found")
}

// RejectWebhook stores a refused inbound request.
func (s *WebhookStore) RejectWebhook(ctx context.Context, integrationID, reason string, responseStatus int) (*switchyard.WebhookDelivery, error) {
	if !validID(integrationID) {
		return nil, integrationNotFound("")
	}
	d, err := scanDelivery(s.db.pool.QueryRow(ctx, `INSERT INTO webhook_deliveries AS d
			(integration_id, direction, event_type, status, response_status, error, finished_at)
		VALUES ($1, 'INBOUND', '', 'REJECTED', $2, $3, now())
		RETURNING `+deliveryColumns, integrationID, responseStatus, reason))
	return d, translate(err)
}

// ClaimWebhook reserves the provider event id with a PENDING row. The
// partial unique index on (integration_id, provider_event_id) decides
// between concurrent claims; the loser reads the winner's row.
func (s *WebhookStore) ClaimWebhook(ctx context.Context, c switchyard.InboundClaim) (*switchyard.WebhookDelivery, bool, error) {
	if !validID(c.IntegrationID) {
		return nil, false, integrationNotFound("")
	}
	if c.ProviderEventID == "" {
		return nil, false, switchyard.InvalidField("id", "a webhook needs its provider's event id")
	}
	for range 3 {
		d, err := scanDelivery(s.db.pool.QueryRow(ctx, `INSERT INTO webhook_deliveries AS d
				(integration_id, direction, event_type, provider_event_id, status, payload)
			VALUES ($1, 'INBOUND', $2, $3, 'PENDING', $4)
			ON CONFLICT (integration_id, provider_event_id)
				WHERE direction = 'INBOUND' AND provider_event_id IS NOT NULL AND status <> 'REJECTED'
			DO UPDATE SET status = 'PENDING', attempt = d.attempt + 1, event_type = excluded.event_type,
				payload = excluded.payload, created_at = now(), finished_at = NULL, error = NULL,
				response_status = NULL, latency_ms = NULL
			WHERE (d.status = 'PENDING' AND d.created_at < now() - make_interval(secs => $5))
			   OR (d.status = 'FAILED' AND d.response_status >= 500)
			RETURNING `+deliveryColumns,
			c.IntegrationID, c.EventType, c.ProviderEventID, []byte(c.Payload), switchyard.InboundClaimTimeout.Seconds()))
		if err == nil {
			return d, true, nil
		}
		if !isNoRows(err) {
			return nil, false, translate(err)
		}
		// Someone holds the id: answer with their delivery. It can vanish
		// between the two statements (its integration deleted), hence the
		// loop.
		d, err = scanDelivery(s.db.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
			WHERE d.integration_id = $1 AND d.provider_event_id = $2 AND d.direction = 'INBOUND' AND d.status <> 'REJECTED'`,
			c.IntegrationID, c.ProviderEventID))
		if err == nil {
			return d, false, nil
		}
		if !isNoRows(err) {
			return nil, false, translate(err)
		}
	}
	return nil, false, fmt.Errorf("webhook claim for integration %s did not settle", c.IntegrationID)
}

// FinishWebhook records a claimed delivery's outcome.
func (s *WebhookStore) FinishWebhook(ctx context.Context, deliveryID string, r switchyard.InboundResult) error {
	if !validID(deliveryID) {
		return deliveryNotFoundPlain()
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE webhook_deliveries
		SET status = $2, response_status = $3, latency_ms = $4, error = $5, finished_at = now()
		WHERE id = $1 AND direction = 'INBOUND' AND status = 'PENDING'`,
		deliveryID, string(r.Status), r.ResponseStatus, r.LatencyMs, r.Error)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return deliveryNotFoundPlain()
	}
	return nil
}

// QueueWebhooks moves the outbound cursor over the next events, queueing
// their deliveries, in one transaction that holds the cursor's row lock: two
// workers that both believe they lead queue each event once.
func (s *WebhookStore) QueueWebhooks(ctx context.Context, limit int) (events, queued int, lost int64, err error) {
	if limit <= 0 || limit > maxReadEvents {
		return 0, 0, 0, switchyard.InvalidField("limit", "limit must be between 1 and %d", maxReadEvents)
	}
	// Most polls find nothing new: a plain read says so without taking the
	// cursor's row lock.
	var at, last int64
	err = s.db.pool.QueryRow(ctx, `SELECT c.seq, r.last_seq FROM consumer_cursors c, relay_state r WHERE c.name = $1`, OutboundCursor).Scan(&at, &last)
	if err == nil && at >= last {
		return 0, 0, 0, nil
	}
	if err != nil && !isNoRows(err) {
		return 0, 0, 0, translate(err)
	}
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO consumer_cursors (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, OutboundCursor); err != nil {
			return err
		}
		var cursor, pruned int64
		if err := tx.QueryRow(ctx, `SELECT c.seq, r.pruned_through FROM consumer_cursors c, relay_state r
			WHERE c.name = $1 FOR UPDATE OF c`, OutboundCursor).Scan(&cursor, &pruned); err != nil {
			return err
		}
		if cursor < pruned {
			// The worker was away longer than the log keeps events: those
			// are gone, and waiting would not bring them back.
			lost = pruned - cursor
			cursor = pruned
		}
		type match struct {
			e            *switchyard.Event
			integrations []string
		}
		// Each event with the integrations that send it, chosen as they are
		// now: one created after the event does not get it.
		rows, err := queryAll(ctx, tx, `SELECT `+eventColumns+`, coalesce(x.ids, '{}')
			FROM (SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2) e
			LEFT JOIN LATERAL (
				SELECT array_agg(i.id::text ORDER BY i.id) AS ids FROM integrations i
				WHERE i.project_id = e.project_id AND i.direction IN ('OUTBOUND', 'BIDIRECTIONAL')
				  AND i.status <> 'PAUSED' AND i.endpoint_url IS NOT NULL
				  AND e.type = ANY(i.event_types) AND i.created_at <= e.occurred_at
			) x ON TRUE
			ORDER BY e.seq`, []any{cursor, limit},
			func(r pgx.CollectableRow) (match, error) {
				var m match
				var err error
				m.e, err = scanEvent(r, &m.integrations)
				return m, err
			})
		if err != nil {
			return err
		}
		events = len(rows)
		var ids, types, subjects []string
		var eventIDs []int64
		var payloads [][]byte
		for _, m := range rows {
			if len(m.integrations) == 0 {
				continue
			}
			payload, err := switchyard.NewWebhookPayload(m.e)
			if err != nil {
				return fmt.Errorf("webhook payload of event %d: %w", m.e.ID, err)
			}
			for _, id := range m.integrations {
				ids = append(ids, id)
				types = append(types, m.e.Type)
				eventIDs = append(eventIDs, m.e.ID)
				subjects = append(subjects, m.e.SubjectType+":"+m.e.SubjectID)
				payloads = append(payloads, payload)
			}
		}
		if len(ids) > 0 {
			tag, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries
					(integration_id, direction, event_type, event_id, subject_key, attempt, status, payload, next_attempt_at, first_attempt_at)
				SELECT t.integration_id, 'OUTBOUND', t.event_type, t.event_id, t.subject_key, 1, 'PENDING', t.payload, now(), now()
				FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[])
					AS t(integration_id, event_type, event_id, subject_key, payload)
				ON CONFLICT (integration_id, event_id, attempt) WHERE direction = 'OUTBOUND' AND event_id IS NOT NULL
				DO NOTHING`, ids, types, eventIDs, subjects, payloads)
			if err != nil {
				return err
			}
			queued = int(tag.RowsAffected())
		}
		next := cursor
		if len(rows) > 0 {
			next = rows[len(rows)-1].e.Seq
		}
		if next == cursor && lost == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE consumer_cursors SET seq = $2, updated_at = now() WHERE name = $1`, OutboundCursor, next)
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return events, queued, lost, nil
}

// DueWebhooks reads the deliveries the worker may attempt now. The NOT
// EXISTS keeps a subject's events in order: while an earlier event's
// delivery is pending (in flight, or waiting for its retry), the later ones
// are not due, whatever their time.
func (s *WebhookStore) DueWebhooks(ctx context.Context, limit, perIntegration int) ([]*switchyard.OutboundWebhook, error) {
	if limit <= 0 || perIntegration <= 0 {
		return nil, switchyard.InvalidField("limit", "limits must be positive")
	}
	list, err := queryAll(ctx, s.db.pool, `SELECT id, integration_id, event_type, event_id, subject_key, attempt, payload,
			first_attempt_at, endpoint_url, status
		FROM (
			SELECT d.id::text AS id, d.integration_id::text AS integration_id, d.event_type, coalesce(d.event_id, 0) AS event_id,
				coalesce(d.subject_key, 'delivery:' || d.id::text) AS subject_key, d.attempt, d.payload,
				coalesce(d.first_attempt_at, d.created_at) AS first_attempt_at,
				CASE WHEN i.direction IN ('OUTBOUND', 'BIDIRECTIONAL') THEN coalesce(i.endpoint_url, '') ELSE '' END AS endpoint_url,
				i.status, d.next_attempt_at,
				row_number() OVER (PARTITION BY d.integration_id ORDER BY d.next_attempt_at, d.event_id, d.attempt) AS rn
			FROM webhook_deliveries d JOIN integrations i ON i.id = d.integration_id
			WHERE d.direction = 'OUTBOUND' AND d.status = 'PENDING' AND d.next_attempt_at <= now()
			  AND (i.status = 'ACTIVE' OR (i.status = 'FAILING' AND coalesce(i.breaker_probe_at, '-infinity') <= now()))
			  AND NOT EXISTS (
				SELECT 1 FROM webhook_deliveries p
				WHERE p.integration_id = d.integration_id AND p.direction = 'OUTBOUND' AND p.status = 'PENDING'
				  AND p.subject_key = d.subject_key AND p.event_id < d.event_id)
		) due
		WHERE rn <= CASE WHEN status = 'FAILING' THEN 1 ELSE $2 END
		ORDER BY next_attempt_at, event_id, attempt
		LIMIT $1`, []any{limit, perIntegration},
		func(r pgx.CollectableRow) (*switchyard.OutboundWebhook, error) {
			var w switchyard.OutboundWebhook
			var payload []byte
			err := r.Scan(&w.DeliveryID, &w.IntegrationID, &w.EventType, &w.EventID, &w.SubjectKey, &w.Attempt, &payload,
				&w.FirstAttemptAt, &w.EndpointURL, &w.IntegrationStatus)
			// jsonb prints with spaces; receivers get it compact.
			var compact bytes.Buffer
			if err == nil && json.Compact(&compact, payload) == nil {
				payload = compact.Bytes()
			}
			w.Payload = payload
			return &w, err
		})
	return list, translate(err)
}

// RecordWebhookAttempt records an attempt, queues its retry and moves the
// circuit breaker in one transaction. The integration's row is locked before
// the delivery's, the order DeleteIntegration takes them in (its cascade
// reaches the deliveries), so the two never deadlock; and RedeliverWebhook,
// which numbers attempts under the same integration lock, never takes this
// retry's number.
func (s *WebhookStore) RecordWebhookAttempt(ctx context.Context, a switchyard.OutboundAttempt) (*switchyard.OutboundAttemptResult, error) {
	if !validID(a.DeliveryID) {
		return &switchyard.OutboundAttemptResult{}, nil
	}
	if a.Breaker.FailureThreshold < 1 {
		return nil, switchyard.InvalidField("breaker.failureThreshold", "the failure threshold must be at least 1")
	}
	res := &switchyard.OutboundAttemptResult{}
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		var failures int
		cur, err := scanIntegration(tx.QueryRow(ctx, `SELECT `+integrationColumns+`, i.consecutive_failures
			FROM integrations i WHERE i.id = (SELECT d.integration_id FROM webhook_deliveries d WHERE d.id = $1)
			FOR NO KEY UPDATE OF i`, a.DeliveryID), &failures)
		if isNoRows(err) {
			return nil // deleted with its integration
		}
		if err != nil {
			return err
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM webhook_deliveries
			WHERE id = $1 AND direction = 'OUTBOUND' AND status = 'PENDING' FOR UPDATE`, a.DeliveryID).Scan(&one)
		if isNoRows(err) {
			return nil // recorded by someone else
		}
		if err != nil {
			return err
		}
		status := switchyard.DeliveryFailed
		var nextAt *time.Time
		if a.Succeeded {
			status = switchyard.DeliverySucceeded
		} else {
			nextAt = a.RetryAt
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries
			SET status = $2, response_status = $3, latency_ms = $4, error = $5, next_attempt_at = $6, finished_at = now()
			WHERE id = $1`, a.DeliveryID, string(status), a.ResponseStatus, a.LatencyMs, a.Error, nextAt); err != nil {
			return err
		}
		if nextAt != nil {
			// The attempt number is the event's highest plus one, so a
			// redelivery queued meanwhile keeps its own.
			if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries
					(integration_id, direction, event_type, event_id, subject_key, attempt, status, payload, next_attempt_at, first_attempt_at)
				SELECT o.integration_id, 'OUTBOUND', o.event_type, o.event_id, o.subject_key,
					(SELECT max(x.attempt) + 1 FROM webhook_deliveries x
					 WHERE x.integration_id = o.integration_id AND x.direction = 'OUTBOUND'
					   AND (x.event_id = o.event_id OR x.id = o.id)),
					'PENDING', o.payload, $2, coalesce(o.first_attempt_at, o.created_at)
				FROM webhook_deliveries o WHERE o.id = $1`, a.DeliveryID, *nextAt); err != nil {
				return err
			}
		}
		res.Recorded = true
		return s.moveBreaker(ctx, tx, cur, failures, a, res)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// moveBreaker applies one attempt's outcome to the integration's circuit
// breaker. A PAUSED integration keeps its status (people set it); its
// failure run still counts. Probe times are the database's clock, the one
// DueWebhooks compares them with.
func (s *WebhookStore) moveBreaker(ctx context.Context, tx pgx.Tx, cur *switchyard.Integration, failures int, a switchyard.OutboundAttempt, res *switchyard.OutboundAttemptResult) error {
	status, before := cur.Status, failures
	if a.Succeeded {
		failures = 0
		if status == switchyard.IntegrationFailing {
			status = switchyard.IntegrationActive
			res.Recovered = true
		}
	} else {
		failures++
		if status == switchyard.IntegrationActive && failures >= a.Breaker.FailureThreshold {
			status = switchyard.IntegrationFailing
			res.Tripped = true
		}
	}
	res.IntegrationStatus, res.ConsecutiveFailures = status, failures
	probe := status == switchyard.IntegrationFailing
	const probeAt = `CASE WHEN $3 THEN now() + make_interval(secs => $4) END`
	probeSecs := a.Breaker.ProbeInterval.Seconds()
	if status == cur.Status && failures == before && !probe {
		return nil // the common case: another success
	}
	if status == cur.Status {
		_, err := tx.Exec(ctx, `UPDATE integrations SET consecutive_failures = $2, breaker_probe_at = `+probeAt+` WHERE id = $1`,
			cur.ID, failures, probe, probeSecs)
		return err
	}
	next, err := scanIntegration(tx.QueryRow(ctx, `UPDATE integrations AS i
		SET status = $5, consecutive_failures = $2, breaker_probe_at = `+probeAt+`, updated_at = now()
		WHERE i.id = $1 RETURNING `+integrationColumns, cur.ID, failures, probe, probeSecs, string(status)))
	if err != nil {
		return err
	}
	if err := insertEvent(ctx, tx, integrationEvent(switchyard.EventIntegrationUpdated, next, nil), next); err != nil {
		return err
	}
	if !res.Tripped {
		return nil
	}
	body := fmt.Sprintf("The last %d deliveries of %s to its endpoint failed, so it is FAILING: deliveries wait, and Switchyard tries one every %v until one succeeds. You can also resume it by hand.",
		failures, next.Name, a.Breaker.ProbeInterval)
	if a.Error != nil {
		body += " Last error: " + strings.TrimSpace(*a.Error)
	}
	return notify(ctx, tx, nil, notificationDraft{
		Kind:        switchyard.NotificationIntegrationFailing,
		Title:       fmt.Sprintf("Integration %s is failing", next.Name),
		Body:        body,
		SubjectType: "integration",
		SubjectID:   next.ID,
	}, []string{next.OwnerID}, "")
}
