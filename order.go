package switchyard

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// OrderStatus is where an order is in its life. The allowed steps are in
// orderTransitions.
type OrderStatus string

const (
	OrderPending   OrderStatus = "PENDING"
	OrderPaid      OrderStatus = "PAID"
	OrderFulfilled OrderStatus = "FULFILLED"
	OrderShipped   OrderStatus = "SHIPPED"
	OrderDelivered OrderStatus = "DELIVERED"
	OrderCancelled OrderStatus = "CANCELLED"
	OrderRefunded  OrderStatus = "REFUNDED"
)

// orderTransitions is the order lifecycle. Money that was taken is returned by a
// refund, never by a cancellation; nothing ever goes back to PENDING; CANCELLED
// and REFUNDED are final.
var orderTransitions = map[OrderStatus][]OrderStatus{
	OrderPending:   {OrderPaid, OrderCancelled},
	OrderPaid:      {OrderFulfilled, OrderShipped, OrderCancelled, OrderRefunded},
	OrderFulfilled: {OrderShipped, OrderRefunded},
	OrderShipped:   {OrderDelivered, OrderRefunded},
	OrderDelivered: {OrderRefunded},
	OrderCancelled: nil,
	OrderRefunded:  nil,
}

// Valid reports whether s is a known status.
func (s OrderStatus) Valid() bool { _, ok := orderTransitions[s]; return ok }

// NextStatuses returns the statuses an order in s may move to.
func (s OrderStatus) NextStatuses() []OrderStatus { return orderTransitions[s] }

// CanTransitionTo reports whether an order in s may move to next.
func (s OrderStatus) CanTransitionTo(next OrderStatus) bool {
	for _, t := range orderTransitions[s] {
		if t == next {
			return true
		}
	}
	return false
}

// ValidateTransition returns EINVALID naming field when from → to is not a step
// of the lifecycle.
func ValidateTransition(field string, from, to OrderStatus) error {
	if !to.Valid() {
		return InvalidField(field, "unknown order status %q", to)
	}
	if from.CanTransitionTo(to) {
		return nil
	}
	allowed := make([]string, 0, len(orderTransitions[from]))
	for _, s := range orderTransitions[from] {
		allowed = append(allowed, string(s))
	}
	if len(allowed) == 0 {
		return InvalidField(field, "an order that is %s cannot change status", from)
	}
	return InvalidField(field, "an order that is %s cannot become %s; allowed: %s", from, to, strings.Join(allowed, ", "))
}

// Order is a customer's order in a project. Number is human-readable and unique
// ("SO-000123"); Total is computed by the server from the items.
type Order struct {
	ID         string      `json:"id"`
	Number     string      `json:"number"`
	ProjectID  string      `json:"projectId"`
	CustomerID string      `json:"customerId"`
	Status     OrderStatus `json:"status"`
	Currency   string      `json:"currency"`
	Total      Decimal     `json:"total"`
	Shipment   *Shipment   `json:"shipment"`
	CreatedAt  time.Time   `json:"createdAt"`
	UpdatedAt  time.Time   `json:"updatedAt"`
}

// TotalMoney returns the order's total with its currency.
func (o *Order) TotalMoney() Money { return Money{Amount: o.Total, Currency: o.Currency} }

// OrderItem is one line of an order.
type OrderItem struct {
	OrderID   string
	Currency  string
	SKU       string
	Name      string
	Quantity  int
	UnitPrice Decimal
	LineTotal Decimal
}

// OrderStatusChange is one step in an order's history. From is nil for the
// order's creation; ActorID is nil for changes made by the system.
type OrderStatusChange struct {
	OrderID string
	From    *OrderStatus
	To      OrderStatus
	Note    *string
	ActorID *string
	At      time.Time
}

// Shipment is how an order travels to its customer.
type Shipment struct {
	Carrier           string     `json:"carrier"`
	TrackingNumber    string     `json:"trackingNumber"`
	EstimatedDelivery *time.Time `json:"estimatedDelivery"`
}

// Validate normalizes the shipment and returns EINVALID naming the bad field.
func (s *Shipment) Validate() error {
	s.Carrier = strings.TrimSpace(s.Carrier)
	s.TrackingNumber = strings.TrimSpace(s.TrackingNumber)
	if s.Carrier == "" {
		return InvalidField("input.carrier", "carrier must not be empty")
	}
	if len(s.Carrier) > 100 {
		return InvalidField("input.carrier", "carrier must be at most 100 characters")
	}
	if s.TrackingNumber == "" {
		return InvalidField("input.trackingNumber", "tracking number must not be empty")
	}
	if len(s.TrackingNumber) > 100 {
		return InvalidField("input.trackingNumber", "tracking number must be at most 100 characters")
	}
	return nil
}

// OrderFilter narrows a list of orders. Zero fields do not filter.
type OrderFilter struct {
	ProjectID     *string
	CustomerID    *string
	Status        []OrderStatus
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	MinTotal      *Decimal
	MaxTotal      *Decimal
}

// Validate returns EINVALID naming the first bad field.
func (f OrderFilter) Validate() error {
	for i, s := range f.Status {
		if !s.Valid() {
			return InvalidField(fmt.Sprintf("filter.status[%d]", i), "unknown order status %q", s)
		}
	}
	if f.MinTotal != nil && f.MaxTotal != nil && f.MinTotal.Rat().Cmp(f.MaxTotal.Rat()) > 0 {
		return InvalidField("filter.minTotal", "minTotal must not be above maxTotal")
	}
	if f.CreatedAfter != nil && f.CreatedBefore != nil && f.CreatedAfter.After(*f.CreatedBefore) {
		return InvalidField("filter.createdAfter", "createdAfter must not be after createdBefore")
	}
	return nil
}

// OrderOrderField is what a list of orders is sorted by.
type OrderOrderField string

const (
	OrderOrderCreatedAt OrderOrderField = "CREATED_AT"
	OrderOrderTotal     OrderOrderField = "TOTAL"
	OrderOrderNumber    OrderOrderField = "NUMBER"
)

// OrderOrder sorts a list of orders; ties break on id.
type OrderOrder struct {
	Field     OrderOrderField
	Direction SortDirection
}

// OrderConnection is one page of orders.
type OrderConnection struct {
	Edges    []OrderEdge
	PageInfo PageInfo
	Filter   OrderFilter
}

// OrderEdge is an order and its cursor.
type OrderEdge struct {
	Cursor string
	Node   *Order
}

// OrderItemInput is one line of OrderCreate.
type OrderItemInput struct {
	SKU       string
	Name      string
	Quantity  int
	UnitPrice Decimal
}

// OrderCreate is the input of OrderService.CreateOrder.
type OrderCreate struct {
	ProjectID string
	// CustomerID defaults to the caller.
	CustomerID *string
	Currency   string
	Items      []OrderItemInput
}

// MaxOrderItems bounds one order's lines.
const MaxOrderItems = 500

// Validate normalizes the input and returns EINVALID naming the first bad field.
func (o *OrderCreate) Validate() error {
	o.Currency = strings.ToUpper(strings.TrimSpace(o.Currency))
	scale, ok := CurrencyMinorUnits(o.Currency)
	if !ok {
		return InvalidField("input.currency", "unknown currency %q; use an ISO 4217 code like USD", o.Currency)
	}
	if len(o.Items) == 0 {
		return InvalidField("input.items", "an order needs at least one item")
	}
	if len(o.Items) > MaxOrderItems {
		return InvalidField("input.items", "an order has at most %d items", MaxOrderItems)
	}
	for i := range o.Items {
		it := &o.Items[i]
		field := fmt.Sprintf("input.items[%d]", i)
		it.SKU = strings.TrimSpace(it.SKU)
		it.Name = strings.TrimSpace(it.Name)
		if it.SKU == "" || len(it.SKU) > 64 {
			return InvalidField(field+".sku", "sku must be 1 to 64 characters")
		}
		if err := validateName(field+".name", it.Name); err != nil {
			return err
		}
		if it.Quantity <= 0 {
			return InvalidField(field+".quantity", "quantity must be positive, got %d", it.Quantity)
		}
		if it.Quantity > 1_000_000 {
			return InvalidField(field+".quantity", "quantity must be at most 1000000")
		}
		if _, err := ParseDecimal(string(it.UnitPrice)); err != nil {
			return InvalidField(field+".unitPrice", "%v", err)
		}
		if it.UnitPrice.Sign() < 0 {
			return InvalidField(field+".unitPrice", "unit price must not be negative")
		}
		if it.UnitPrice.Scale() > scale {
			return InvalidField(field+".unitPrice", "%s has %d decimal places; at most %d", o.Currency, it.UnitPrice.Scale(), scale)
		}
		it.UnitPrice = it.UnitPrice.RoundTo(scale)
	}
	return nil
}

// LineTotals returns each item's quantity × unit price and the order total, in
// the currency's minor units. Call after Validate.
func (o *OrderCreate) LineTotals() (lines []Decimal, total Decimal) {
	scale, _ := CurrencyMinorUnits(o.Currency)
	sum := new(big.Rat)
	lines = make([]Decimal, len(o.Items))
	for i, it := range o.Items {
		line := new(big.Rat).Mul(it.UnitPrice.Rat(), new(big.Rat).SetInt64(int64(it.Quantity)))
		lines[i] = DecimalFromRat(line, scale)
		sum.Add(sum, line)
	}
	return lines, DecimalFromRat(sum, scale)
}

// OrderService reads and changes orders. A member reads the orders of the
// projects they own or belong to, and the orders where they are the customer; an
// admin reads all. Orders the caller may not read answer exactly as orders that
// do not exist. Changing an order takes a member of its project or an admin; a
// customer may cancel their own PENDING order.
type OrderService interface {
	// FindOrderByID returns the order with id.
	// Returns ENOTFOUND if it does not exist or the caller may not read it.
	FindOrderByID(ctx context.Context, id string) (*Order, error)

	// FindOrderByNumber returns the order with number, like "SO-000123".
	// Returns ENOTFOUND as FindOrderByID.
	FindOrderByNumber(ctx context.Context, number string) (*Order, error)

	// FindOrdersByIDs returns the readable orders among ids, in no particular
	// order. One round trip.
	FindOrdersByIDs(ctx context.Context, ids []string) ([]*Order, error)

	// FindOrders returns one page of readable orders matching filter.
	// Returns EUNAUTHENTICATED for an anonymous caller, EINVALID for a bad
	// filter, page arguments or cursor.
	FindOrders(ctx context.Context, filter OrderFilter, page PageArgs, order OrderOrder) (*OrderConnection, error)

	// FindOrdersByProjects returns, for each project id, one page of its
	// readable orders matching filter. One round trip for all projects.
	FindOrdersByProjects(ctx context.Context, projectIDs []string, filter OrderFilter, page PageArgs, order OrderOrder) (map[string]*OrderConnection, error)

	// FindOrdersByCustomers returns, for each user id, one page of the readable
	// orders where that user is the customer. One round trip for all users.
	FindOrdersByCustomers(ctx context.Context, customerIDs []string, filter OrderFilter, page PageArgs, order OrderOrder) (map[string]*OrderConnection, error)

	// CountOrders counts readable orders matching filter.
	CountOrders(ctx context.Context, filter OrderFilter) (int, error)

	// FindOrderItems returns the items of each order id, in entry order. It does
	// not check access: call it only for orders already read through this
	// service. One round trip.
	FindOrderItems(ctx context.Context, orderIDs []string) (map[string][]*OrderItem, error)

	// FindOrderHistory returns the status changes of each order id, oldest
	// first, under the same contract as FindOrderItems.
	FindOrderHistory(ctx context.Context, orderIDs []string) (map[string][]*OrderStatusChange, error)

	// CreateOrder creates a PENDING order with a fresh number and the total
	// computed from the items.
	// Returns EUNAUTHENTICATED, EINVALID, ENOTFOUND for an unreadable project or
	// unknown customer, EFORBIDDEN when the caller is not a member of the
	// project, EINVALID when the project is not ACTIVE.
	CreateOrder(ctx context.Context, input OrderCreate) (*Order, error)

	// UpdateOrderStatus moves an order one step along its lifecycle and records
	// the change in its history.
	// Returns ENOTFOUND, EFORBIDDEN, EINVALID for a step the lifecycle forbids.
	UpdateOrderStatus(ctx context.Context, id string, status OrderStatus, note *string) (*Order, error)

	// SetOrderShipment sets or replaces an order's shipment.
	// Returns ENOTFOUND, EFORBIDDEN, EINVALID for a bad shipment or an order that
	// is CANCELLED or REFUNDED.
	SetOrderShipment(ctx context.Context, id string, shipment Shipment) (*Order, error)

	// CancelOrder cancels a PENDING or PAID order.
	// Returns ENOTFOUND, EFORBIDDEN, EINVALID when the order can no longer be
	// cancelled.
	CancelOrder(ctx context.Context, id string, reason *string) (*Order, error)
}
