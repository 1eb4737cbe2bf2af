package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// maxOrderNoteLen bounds a status change's note and a cancellation's reason.
const maxOrderNoteLen = 2000

// orderEventData is an order's state as the event log carries it. Field names
// follow the GraphQL schema; money stays a string so no consumer reads it as a
// float.
type orderEventData struct {
	ID             string                  `json:"id"`
	Number         string                  `json:"number"`
	ProjectID      string                  `json:"projectId"`
	CustomerID     string                  `json:"customerId"`
	Status         switchyard.OrderStatus  `json:"status"`
	Currency       string                  `json:"currency"`
	Total          string                  `json:"total"`
	Shipment       *shipmentEventData      `json:"shipment"`
	CreatedAt      time.Time               `json:"createdAt"`
	UpdatedAt      time.Time               `json:"updatedAt"`
	PreviousStatus *switchyard.OrderStatus `json:"previousStatus,omitempty"`
	Note           *string                 `json:"note,omitempty"`
}

type shipmentEventData struct {
	Carrier           string     `json:"carrier"`
	TrackingNumber    string     `json:"trackingNumber"`
	EstimatedDelivery *time.Time `json:"estimatedDelivery"`
}

func newOrderEventData(o *switchyard.Order) orderEventData {
	d := orderEventData{
		ID: o.ID, Number: o.Number, ProjectID: o.ProjectID, CustomerID: o.CustomerID,
		Status: o.Status, Currency: o.Currency, Total: string(o.Total),
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
	if o.Shipment != nil {
		d.Shipment = &shipmentEventData{Carrier: o.Shipment.Carrier, TrackingNumber: o.Shipment.TrackingNumber, EstimatedDelivery: o.Shipment.EstimatedDelivery}
	}
	return d
}

// insertOrderEvent logs an event about o for its project's members and its
// customer.
func insertOrderEvent(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, typ string, o *switchyard.Order, data orderEventData) error {
	projectID := o.ProjectID
	return insertEvent(ctx, tx, switchyard.Event{
		Type:        typ,
		SubjectType: "order",
		SubjectID:   o.ID,
		ProjectID:   &projectID,
		UserIDs:     []string{o.CustomerID},
		ActorID:     actorID(c),
	}, data)
}

// normalizeNote trims a free-text note; an empty one is no note.
func normalizeNote(field string, note *string) (*string, error) {
	if note == nil {
		return nil, nil
	}
	n := strings.TrimSpace(*note)
	if n == "" {
		return nil, nil
	}
	if len([]rune(n)) > maxOrderNoteLen {
		return nil, switchyard.InvalidField(field, "%s must be at most %d characters", field, maxOrderNoteLen)
	}
	return &n, nil
}

// CreateOrder creates a PENDING order, its items, its first history entry and
// its order.created event in one transaction.
func (s *OrderService) CreateOrder(ctx context.Context, input switchyard.OrderCreate) (*switchyard.Order, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := input.Validate(); err != nil {
		return nil, err
	}
	// Computed here, exactly, from the validated prices: a client never sends
	// a total, and numeric stores these strings with the currency's scale.
	lines, total := input.LineTotals()

	projectID := strings.ToLower(strings.TrimSpace(input.ProjectID))
	if c.IsPartner() && input.CustomerID == nil {
		return nil, switchyard.InvalidField("input.customerId", "a partner names the order's customer")
	}
	customerID := c.UserID
	if input.CustomerID != nil {
		customerID = strings.ToLower(strings.TrimSpace(*input.CustomerID))
	}
	if !validID(projectID) {
		return nil, &switchyard.Error{Code: switchyard.ENOTFOUND, Field: "input.projectId", Message: "project not found"}
	}
	if !validID(customerID) {
		return nil, &switchyard.Error{Code: switchyard.ENOTFOUND, Field: "input.customerId", Message: "customer not found"}
	}

	var created *switchyard.Order
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkProjectTakesOrders(ctx, tx, c, projectID); err != nil {
			return err
		}
		// FOR SHARE keeps the customer from being deleted until the order
		// naming them commits.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL FOR SHARE`, customerID).Scan(&one)
		if isNoRows(err) {
			return &switchyard.Error{Code: switchyard.ENOTFOUND, Field: "input.customerId", Message: "customer not found"}
		}
		if err != nil {
			return err
		}

		o, err := scanOrder(tx.QueryRow(ctx, `INSERT INTO orders AS o (project_id, customer_id, currency, total)
			VALUES ($1, $2, $3, $4::numeric) RETURNING `+orderColumns,
			projectID, customerID, input.Currency, string(total)))
		if err != nil {
			return err
		}

		n := len(input.Items)
		positions, quantities := make([]int32, n), make([]int32, n)
		skus, names, prices, totals := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, it := range input.Items {
			positions[i], quantities[i] = int32(i), int32(it.Quantity)
			skus[i], names[i], prices[i], totals[i] = it.SKU, it.Name, string(it.UnitPrice), string(lines[i])
		}
		// One statement for all lines, however many there are.
		if _, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, position, sku, name, quantity, unit_price, line_total)
			SELECT $1, t.position, t.sku, t.name, t.quantity, t.unit_price::numeric, t.line_total::numeric
			FROM unnest($2::int[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[])
				AS t(position, sku, name, quantity, unit_price, line_total)`,
			o.ID, positions, skus, names, quantities, prices, totals); err != nil {
			return err
		}
		if err := insertOrderStatusChange(ctx, tx, c, o.ID, nil, switchyard.OrderPending, nil); err != nil {
			return err
		}
		if err := insertOrderEvent(ctx, tx, c, switchyard.EventOrderCreated, o, newOrderEventData(o)); err != nil {
			return err
		}
		created = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// checkProjectTakesOrders answers whether the caller may create an order in
// the project. A customer who has ordered there, or a partner of the project
// without ORDERS_WRITE, knows the project exists, so they are told FORBIDDEN;
// anyone else who cannot read it is told NOT_FOUND, exactly as for a project
// that does not exist. The project row is share-
// locked so it cannot be archived or deleted before the order commits.
func checkProjectTakesOrders(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, projectID string) error {
	var ps params
	id := ps.add(projectID)
	member := canWriteOrdersIn(c, "p", &ps)
	readable := canReadProject(c, "p", &ps)
	writable := canWriteOrdersIn(c, "p", &ps)
	// Who knows the project without reading it: a customer who ordered
	// there, and a partner whose key reads its orders.
	customer := forCaller(c, &ps, func(me string) string {
		return fmt.Sprintf(`(p.status <> 'DELETED' AND EXISTS (
			SELECT 1 FROM orders o5 WHERE o5.project_id = p.id AND o5.customer_id = %s::uuid))`, me)
	}, partnerGrant{switchyard.ScopeOrdersRead, func(ids *partnerIDs) string {
		return fmt.Sprintf("(p.id = %s AND p.status <> 'DELETED')", ids.Project())
	}})
	q := fmt.Sprintf(`SELECT p.status, %s FROM projects p
		WHERE p.id = %s AND (%s OR %s OR %s)
		FOR SHARE OF p`, member, id, readable, writable, customer)
	var (
		status   string
		isMember bool
	)
	err := tx.QueryRow(ctx, q, ps...).Scan(&status, &isMember)
	if isNoRows(err) {
		return &switchyard.Error{Code: switchyard.ENOTFOUND, Field: "input.projectId", Message: "project not found"}
	}
	if err != nil {
		return err
	}
	if !isMember {
		return switchyard.Errorf(switchyard.EFORBIDDEN, "only the project's owner, its members and admins may create orders in it")
	}
	if switchyard.ProjectStatus(status) != switchyard.ProjectActive {
		return switchyard.InvalidField("input.projectId", "the project is %s; orders can only be created in an ACTIVE project", status)
	}
	return nil
}

// lockOrder reads the order for change, row-locked until the transaction
// ends so concurrent changes to one order apply one after the other, each
// seeing the status the previous one left. member reports whether the caller
// may change it as a member of its project (or an admin).
func lockOrder(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, id string) (o *switchyard.Order, member bool, err error) {
	var ps params
	idp := ps.add(id)
	access := canReadOrder(c, "o", &ps)
	memberExpr := forCaller(c, &ps, func(me string) string { return "o.project_id IN " + memberProjectIDs(me) },
		partnerGrant{switchyard.ScopeOrdersWrite, func(ids *partnerIDs) string { return "o.project_id = " + ids.Project() }})
	q := fmt.Sprintf(`SELECT %s, %s FROM orders o WHERE o.id = %s AND %s FOR UPDATE OF o`, orderColumns, memberExpr, idp, access)
	o, err = scanOrder(tx.QueryRow(ctx, q, ps...), &member)
	if isNoRows(err) {
		return nil, false, orderNotFound("id")
	}
	return o, member, err
}

func errNotOrderMember() error {
	return switchyard.Errorf(switchyard.EFORBIDDEN, "only members of the order's project and admins may change it")
}

// changeOrder is every order change: the caller and the id are checked, then
// check, the input's own validation, all before any round trip; then change
// runs on the order, locked for the transaction (see lockOrder), and what it
// returns commits.
func (s *OrderService) changeOrder(ctx context.Context, id string, check func() error, change func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Order, member bool) (*switchyard.Order, error)) (*switchyard.Order, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, orderNotFound("id")
	}
	if err := check(); err != nil {
		return nil, err
	}
	var updated *switchyard.Order
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		cur, member, err := lockOrder(ctx, tx, c, id)
		if err != nil {
			return err
		}
		updated, err = change(tx, c, cur, member)
		return err
	})
	if err != nil {
		return nil, err
	}
	return updated, nil
}

// UpdateOrderStatus moves an order one step along its lifecycle.
func (s *OrderService) UpdateOrderStatus(ctx context.Context, id string, status switchyard.OrderStatus, note *string) (*switchyard.Order, error) {
	check := func() (err error) {
		if !status.Valid() {
			return switchyard.InvalidField("status", "unknown order status %q", status)
		}
		note, err = normalizeNote("note", note)
		return err
	}
	return s.changeOrder(ctx, id, check, func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Order, member bool) (*switchyard.Order, error) {
		if !member {
			return nil, errNotOrderMember()
		}
		if err := switchyard.ValidateTransition("status", cur.Status, status); err != nil {
			return nil, err
		}
		return changeOrderStatus(ctx, tx, c, cur, status, note)
	})
}

// CancelOrder cancels a PENDING or PAID order; the reason becomes the history
// entry's note.
func (s *OrderService) CancelOrder(ctx context.Context, id string, reason *string) (*switchyard.Order, error) {
	check := func() (err error) {
		reason, err = normalizeNote("reason", reason)
		return err
	}
	return s.changeOrder(ctx, id, check, func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Order, member bool) (*switchyard.Order, error) {
		ownPending := cur.CustomerID == c.UserID && cur.Status == switchyard.OrderPending
		if !member && !ownPending {
			if cur.CustomerID == c.UserID {
				return nil, switchyard.Errorf(switchyard.EFORBIDDEN, "a customer may cancel their own order only while it is PENDING; it is %s", cur.Status)
			}
			return nil, errNotOrderMember()
		}
		if !cur.Status.CanTransitionTo(switchyard.OrderCancelled) {
			return nil, switchyard.InvalidField("id", "only a PENDING or PAID order can be cancelled; this one is %s", cur.Status)
		}
		return changeOrderStatus(ctx, tx, c, cur, switchyard.OrderCancelled, reason)
	})
}

// insertOrderStatusChange appends to an order's history. A caller that is
// not a users row (a system principal, like an admin acting for a job) is
// recorded as the system, a NULL actor, rather than failing the change on
// the foreign key.
func insertOrderStatusChange(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, orderID string, from *switchyard.OrderStatus, to switchyard.OrderStatus, note *string) error {
	var fromText *string
	if from != nil {
		f := string(*from)
		fromText = &f
	}
	_, err := tx.Exec(ctx, `INSERT INTO order_status_changes (order_id, from_status, to_status, note, actor_id)
		VALUES ($1, $2, $3, $4, (SELECT u.id FROM users u WHERE u.id = $5::uuid))`,
		orderID, fromText, string(to), note, actorID(c))
	return err
}

// changeOrderStatus writes a checked step: the new status, the history entry,
// the order.status_changed event and the notifications of the step.
func changeOrderStatus(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Order, to switchyard.OrderStatus, note *string) (*switchyard.Order, error) {
	o, err := scanOrder(tx.QueryRow(ctx, `UPDATE orders AS o SET status = $2, updated_at = now() WHERE o.id = $1 RETURNING `+orderColumns,
		cur.ID, string(to)))
	if err != nil {
		return nil, err
	}
	from := cur.Status
	if err := insertOrderStatusChange(ctx, tx, c, o.ID, &from, to, note); err != nil {
		return nil, err
	}
	data := newOrderEventData(o)
	prev := cur.Status
	data.PreviousStatus, data.Note = &prev, note
	if err := insertOrderEvent(ctx, tx, c, switchyard.EventOrderStatusChanged, o, data); err != nil {
		return nil, err
	}
	if err := notifyOrderStatus(ctx, tx, c, o, prev, note); err != nil {
		return nil, err
	}
	return o, nil
}

// SetOrderShipment sets or replaces an order's shipment.
func (s *OrderService) SetOrderShipment(ctx context.Context, id string, shipment switchyard.Shipment) (*switchyard.Order, error) {
	// The method value binds &shipment: Validate trims the very shipment the
	// change then writes.
	return s.changeOrder(ctx, id, shipment.Validate, func(tx pgx.Tx, c *switchyard.Caller, cur *switchyard.Order, member bool) (*switchyard.Order, error) {
		if !member {
			return nil, errNotOrderMember()
		}
		if cur.Status == switchyard.OrderCancelled || cur.Status == switchyard.OrderRefunded {
			return nil, switchyard.InvalidField("id", "an order that is %s cannot be shipped", cur.Status)
		}
		o, err := scanOrder(tx.QueryRow(ctx, `UPDATE orders AS o
			SET shipment_carrier = $2, shipment_tracking_number = $3, shipment_estimated_delivery = $4, updated_at = now()
			WHERE o.id = $1 RETURNING `+orderColumns,
			cur.ID, shipment.Carrier, shipment.TrackingNumber, shipment.EstimatedDelivery))
		if err != nil {
			return nil, err
		}
		if err := insertOrderEvent(ctx, tx, c, switchyard.EventOrderShipmentSet, o, newOrderEventData(o)); err != nil {
			return nil, err
		}
		return o, nil
	})
}
