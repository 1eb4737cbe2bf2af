package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchyard/switchyard"
)

// OrderService implements switchyard.OrderService. Every read filters with
// canReadOrder in the statement that reads, so lists, counts, batch loads and
// lookups agree on what a caller sees.
type OrderService struct {
	db *DB
}

// NewOrderService returns the order service over db.
func NewOrderService(db *DB) *OrderService { return &OrderService{db: db} }

var _ switchyard.OrderService = (*OrderService)(nil)

// orderColumns reads an order over alias o. Money is read as text so it keeps
// the scale it was stored with ("12.50", not 12.5) and never meets a float.
const orderColumns = `o.id::text, o.number, o.project_id::text, o.customer_id::text, o.status, o.currency, o.total::text,
	o.shipment_carrier, o.shipment_tracking_number, o.shipment_estimated_delivery, o.created_at, o.updated_at`

// scanOrder scans orderColumns, then extra.
func scanOrder(row pgx.Row, extra ...any) (*switchyard.Order, error) {
	var (
		o                 switchyard.Order
		status, total     string
		carrier, tracking *string
		eta               *time.Time
	)
	dest := append([]any{&o.ID, &o.Number, &o.ProjectID, &o.CustomerID, &status, &o.Currency, &total,
		&carrier, &tracking, &eta, &o.CreatedAt, &o.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	o.Status = switchyard.OrderStatus(status)
	o.Total = switchyard.Decimal(total)
	if carrier != nil {
		o.Shipment = &switchyard.Shipment{Carrier: *carrier, EstimatedDelivery: eta}
		if tracking != nil {
			o.Shipment.TrackingNumber = *tracking
		}
	}
	return &o, nil
}

func orderNotFound(field string) error {
	return &switchyard.Error{Code: switchyard.ENOTFOUND, Message: "order not found", Field: field}
}

// maxOrderNumberLen bounds a number worth looking up; anything longer cannot
// exist and is answered without a round trip.
const maxOrderNumberLen = 64

// FindOrderByID returns the order with id if the caller may read it.
func (s *OrderService) FindOrderByID(ctx context.Context, id string) (*switchyard.Order, error) {
	c := switchyard.CallerFromContext(ctx)
	if c == nil || !validID(id) {
		return nil, orderNotFound("")
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM orders o WHERE o.id = %s AND %s`, orderColumns, ps.add(id), canReadOrder(c, "o", &ps))
	return s.findOne(ctx, q, ps)
}

// FindOrderByNumber returns the order with number if the caller may read it.
func (s *OrderService) FindOrderByNumber(ctx context.Context, number string) (*switchyard.Order, error) {
	c := switchyard.CallerFromContext(ctx)
	number = strings.ToUpper(strings.TrimSpace(number))
	if c == nil || number == "" || len(number) > maxOrderNumberLen {
		return nil, orderNotFound("")
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM orders o WHERE o.number = %s AND %s`, orderColumns, ps.add(number), canReadOrder(c, "o", &ps))
	return s.findOne(ctx, q, ps)
}

func (s *OrderService) findOne(ctx context.Context, q string, ps params) (*switchyard.Order, error) {
	o, err := scanOrder(s.db.pool.QueryRow(ctx, q, ps...))
	if isNoRows(err) {
		return nil, orderNotFound("")
	}
	if err != nil {
		return nil, translate(err)
	}
	return o, nil
}

// FindOrdersByIDs returns the readable orders among ids in one statement.
func (s *OrderService) FindOrdersByIDs(ctx context.Context, ids []string) ([]*switchyard.Order, error) {
	c := switchyard.CallerFromContext(ctx)
	ids = batchIDs(ids)
	if c == nil || len(ids) == 0 {
		return []*switchyard.Order{}, nil
	}
	var ps params
	q := fmt.Sprintf(`SELECT %s FROM orders o WHERE o.id = ANY(%s::uuid[]) AND %s`, orderColumns, ps.add(ids), canReadOrder(c, "o", &ps))
	list, err := queryAll(ctx, s.db.pool, q, ps, rowOf(scanOrder))
	if err != nil {
		return nil, translate(err)
	}
	return list, nil
}

// orderSortKey maps the API's order onto a keyset sort key. The default is the
// newest first.
func orderSortKey(o switchyard.OrderOrder) (sortKey, error) {
	field, dir := o.Field, o.Direction
	if field == "" {
		field = switchyard.OrderOrderCreatedAt
	}
	if dir == "" {
		dir = switchyard.SortDesc
	}
	var k sortKey
	switch field {
	case switchyard.OrderOrderCreatedAt:
		k = sortKey{name: "order.createdAt", column: "o.created_at", cast: "timestamptz"}
	case switchyard.OrderOrderTotal:
		k = sortKey{name: "order.total", column: "o.total", cast: "numeric"}
	case switchyard.OrderOrderNumber:
		k = sortKey{name: "order.number", column: "o.number", cast: "text"}
	default:
		return k, switchyard.InvalidField("orderBy.field", "unknown order field %q", field)
	}
	switch dir {
	case switchyard.SortAsc:
	case switchyard.SortDesc:
		k.desc = true
	default:
		return k, switchyard.InvalidField("orderBy.direction", "unknown sort direction %q", dir)
	}
	k.idColumn = "o.id"
	return k, nil
}

// validateOrderFilter checks what OrderFilter.Validate checks, and first the
// decimals it compares, which it would otherwise panic on if built by hand.
func validateOrderFilter(f switchyard.OrderFilter) error {
	for field, d := range map[string]*switchyard.Decimal{"filter.minTotal": f.MinTotal, "filter.maxTotal": f.MaxTotal} {
		if d == nil {
			continue
		}
		if _, err := switchyard.ParseDecimal(string(*d)); err != nil {
			return switchyard.InvalidField(field, "%v", err)
		}
	}
	return f.Validate()
}

// orderFilterSQL returns f's conditions over alias o as one boolean
// expression. Only values that appear in the SQL are added to ps: PostgreSQL
// refuses parameters a statement does not use.
func orderFilterSQL(f switchyard.OrderFilter, ps *params) string {
	conds := []string{"TRUE"}
	if f.ProjectID != nil {
		if validID(*f.ProjectID) {
			conds = append(conds, "o.project_id = "+ps.add(*f.ProjectID)+"::uuid")
		} else {
			conds = append(conds, "FALSE")
		}
	}
	if f.CustomerID != nil {
		if validID(*f.CustomerID) {
			conds = append(conds, "o.customer_id = "+ps.add(*f.CustomerID)+"::uuid")
		} else {
			conds = append(conds, "FALSE")
		}
	}
	if len(f.Status) > 0 {
		statuses := make([]string, len(f.Status))
		for i, st := range f.Status {
			statuses[i] = string(st)
		}
		conds = append(conds, "o.status = ANY("+ps.add(statuses)+"::text[])")
	}
	// Both bounds are strict, as the words say and as UserFilter's are.
	if f.CreatedAfter != nil {
		conds = append(conds, "o.created_at > "+ps.add(*f.CreatedAfter)+"::timestamptz")
	}
	if f.CreatedBefore != nil {
		conds = append(conds, "o.created_at < "+ps.add(*f.CreatedBefore)+"::timestamptz")
	}
	// Compared as numeric, never as text ("9.99" < "10.00") or float.
	if f.MinTotal != nil {
		conds = append(conds, "o.total >= "+ps.add(string(*f.MinTotal))+"::numeric")
	}
	if f.MaxTotal != nil {
		conds = append(conds, "o.total <= "+ps.add(string(*f.MaxTotal))+"::numeric")
	}
	return strings.Join(conds, " AND ")
}

// listQueryError turns a driver error of a list query into the vocabulary.
// Every filter value is checked in Go before it reaches SQL, so a data
// exception (class 22) can only come from a cursor whose value was tampered
// with: that is the client's fault, not an internal error.
func listQueryError(err error, page switchyard.PageArgs) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22") {
		field := "after"
		if page.After == nil {
			field = "before"
		}
		return switchyard.InvalidField(field, "malformed cursor")
	}
	return translate(err)
}

func orderConnection(k keyset, rows []sortedRow[*switchyard.Order], f switchyard.OrderFilter) *switchyard.OrderConnection {
	edges, info := pageEdges(k, rows, func(o *switchyard.Order) string { return o.ID }, func(cursor string, o *switchyard.Order) switchyard.OrderEdge {
		return switchyard.OrderEdge{Cursor: cursor, Node: o}
	})
	return &switchyard.OrderConnection{Edges: edges, PageInfo: info, Filter: f}
}

// startOrderList checks what every list of orders checks, in this order: the
// caller, the filter and the sort order. The page arguments are checked when
// the keyset's clause is built.
func startOrderList(ctx context.Context, filter switchyard.OrderFilter, page switchyard.PageArgs, order switchyard.OrderOrder) (*switchyard.Caller, keyset, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, keyset{}, err
	}
	if err := validateOrderFilter(filter); err != nil {
		return nil, keyset{}, err
	}
	key, err := orderSortKey(order)
	if err != nil {
		return nil, keyset{}, err
	}
	return c, keyset{key: key, args: page}, nil
}

// FindOrders returns one page of the readable orders matching filter.
func (s *OrderService) FindOrders(ctx context.Context, filter switchyard.OrderFilter, page switchyard.PageArgs, order switchyard.OrderOrder) (*switchyard.OrderConnection, error) {
	c, k, err := startOrderList(ctx, filter, page, order)
	if err != nil {
		return nil, err
	}
	var ps params
	where := canReadOrder(c, "o", &ps) + " AND " + orderFilterSQL(filter, &ps)
	q, err := k.selectPage(orderColumns, "orders o", where, &ps)
	if err != nil {
		return nil, err
	}
	list, err := queryAll(ctx, s.db.pool, q, ps, withSortValue(scanOrder))
	if err != nil {
		return nil, listQueryError(err, page)
	}
	return orderConnection(k, list, filter), nil
}

// FindOrdersByProjects returns one page of orders per project, in one
// statement for all projects.
func (s *OrderService) FindOrdersByProjects(ctx context.Context, projectIDs []string, filter switchyard.OrderFilter, page switchyard.PageArgs, order switchyard.OrderOrder) (map[string]*switchyard.OrderConnection, error) {
	return s.findOrdersByParents(ctx, "o.project_id", projectIDs, filter, page, order, func(f *switchyard.OrderFilter, id string) {
		f.ProjectID = &id
	})
}

// FindOrdersByCustomers returns one page of orders per customer, in one
// statement for all customers.
func (s *OrderService) FindOrdersByCustomers(ctx context.Context, customerIDs []string, filter switchyard.OrderFilter, page switchyard.PageArgs, order switchyard.OrderOrder) (map[string]*switchyard.OrderConnection, error) {
	return s.findOrdersByParents(ctx, "o.customer_id", customerIDs, filter, page, order, func(f *switchyard.OrderFilter, id string) {
		f.CustomerID = &id
	})
}

// findOrdersByParents pages each parent's orders separately inside one
// statement: a LATERAL subquery per parent applies the keyset condition and
// the LIMIT per parent, so one busy parent cannot starve the others, and
// row_number keeps each parent's scan order for finish. setParent narrows a
// filter to one parent; each connection's Filter is narrowed so CountOrders
// counts exactly that connection.
func (s *OrderService) findOrdersByParents(ctx context.Context, parentColumn string, ids []string, filter switchyard.OrderFilter, page switchyard.PageArgs, order switchyard.OrderOrder, setParent func(*switchyard.OrderFilter, string)) (map[string]*switchyard.OrderConnection, error) {
	c, k, err := startOrderList(ctx, filter, page, order)
	if err != nil {
		return nil, err
	}
	// The parent replaces whatever the filter said about the same column.
	shared := filter
	switch parentColumn {
	case "o.project_id":
		shared.ProjectID = nil
	case "o.customer_id":
		shared.CustomerID = nil
	}
	var ps params
	parents := ps.add(batchIDs(ids))
	access := canReadOrder(c, "o", &ps)
	cond := orderFilterSQL(shared, &ps)
	pageCond, orderBy, limit, err := k.clause(&ps)
	if err != nil {
		return nil, err
	}

	var byParent map[string][]sortedRow[*switchyard.Order]
	if valid := ps[0].([]string); len(valid) > 0 {
		q := fmt.Sprintf(`SELECT parent.id::text, x.* FROM unnest(%s::uuid[]) WITH ORDINALITY AS parent(id, ord)
			CROSS JOIN LATERAL (
				SELECT %s, %s AS sort_value, row_number() OVER (ORDER BY %s) AS rn
				FROM orders o
				WHERE %s = parent.id AND %s AND %s AND %s
				ORDER BY %s LIMIT %d
			) x
			ORDER BY parent.ord, x.rn`,
			parents, orderColumns, k.sortValueSQL(), orderBy, parentColumn, access, cond, pageCond, orderBy, limit)
		// A scan error is never a data exception, so listQueryError
		// translates it as translate would.
		rows, err := queryAll(ctx, s.db.pool, q, ps, func(r pgx.CollectableRow) (parentRow[*switchyard.Order], error) {
			var pr parentRow[*switchyard.Order]
			var rn int64
			var err error
			pr.node, err = scanOrder(prefixRow{r, &pr.parent}, &pr.value, &rn)
			return pr, err
		})
		if err != nil {
			return nil, listQueryError(err, page)
		}
		byParent = groupByParent(rows)
	}

	out := make(map[string]*switchyard.OrderConnection, len(ids))
	for _, id := range ids {
		if _, done := out[id]; done {
			continue
		}
		f := shared
		setParent(&f, id)
		out[id] = orderConnection(k, byParent[strings.ToLower(id)], f)
	}
	return out, nil
}

// prefixRow scans a leading column into prefix, then the rest into the
// destinations scanOrder passes.
type prefixRow struct {
	row    pgx.Row
	prefix any
}

func (r prefixRow) Scan(dest ...any) error {
	return r.row.Scan(append([]any{r.prefix}, dest...)...)
}

// CountOrders counts the readable orders matching filter.
func (s *OrderService) CountOrders(ctx context.Context, filter switchyard.OrderFilter) (int, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return 0, err
	}
	if err := validateOrderFilter(filter); err != nil {
		return 0, err
	}
	var ps params
	q := fmt.Sprintf(`SELECT count(*) FROM orders o WHERE %s AND %s`, canReadOrder(c, "o", &ps), orderFilterSQL(filter, &ps))
	var n int
	if err := s.db.pool.QueryRow(ctx, q, ps...).Scan(&n); err != nil {
		return 0, translate(err)
	}
	return n, nil
}

// FindOrderItems returns each order's items in entry order, with the order's
// currency, in one statement. Callers read the orders through the service
// first, which is where access is checked.
func (s *OrderService) FindOrderItems(ctx context.Context, orderIDs []string) (map[string][]*switchyard.OrderItem, error) {
	ids := batchIDs(orderIDs)
	out := make(map[string][]*switchyard.OrderItem, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT i.order_id::text, o.currency, i.sku, i.name, i.quantity, i.unit_price::text, i.line_total::text
		FROM order_items i JOIN orders o ON o.id = i.order_id
		WHERE i.order_id = ANY($1::uuid[])
		ORDER BY i.order_id, i.position`, ids)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			it          switchyard.OrderItem
			price, line string
		)
		if err := rows.Scan(&it.OrderID, &it.Currency, &it.SKU, &it.Name, &it.Quantity, &price, &line); err != nil {
			return nil, translate(err)
		}
		it.UnitPrice, it.LineTotal = switchyard.Decimal(price), switchyard.Decimal(line)
		out[it.OrderID] = append(out[it.OrderID], &it)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// FindOrderHistory returns each order's status changes, oldest first, in one
// statement. The id orders them: changes to one order are serialized by its
// row lock, so insertion order is the order they happened in.
func (s *OrderService) FindOrderHistory(ctx context.Context, orderIDs []string) (map[string][]*switchyard.OrderStatusChange, error) {
	ids := batchIDs(orderIDs)
	out := make(map[string][]*switchyard.OrderStatusChange, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT h.order_id::text, h.from_status, h.to_status, h.note, h.actor_id::text, h.at
		FROM order_status_changes h
		WHERE h.order_id = ANY($1::uuid[])
		ORDER BY h.order_id, h.id`, ids)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ch       switchyard.OrderStatusChange
			from     *string
			to       string
			note     *string
			actor    *string
			occurred time.Time
		)
		if err := rows.Scan(&ch.OrderID, &from, &to, &note, &actor, &occurred); err != nil {
			return nil, translate(err)
		}
		if from != nil {
			f := switchyard.OrderStatus(*from)
			ch.From = &f
		}
		ch.To, ch.Note, ch.ActorID, ch.At = switchyard.OrderStatus(to), note, actor, occurred
		out[ch.OrderID] = append(out[ch.OrderID], &ch)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}
