package switchyard

import "strconv"

// Page sizes for every connection. A request above MaxPageSize is refused rather
// than silently shortened, so clients notice.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// PageArgs are a Relay connection's arguments. Forward pagination uses First and
// After; backward uses Last and Before.
type PageArgs struct {
	First  *int
	After  *string
	Last   *int
	Before *string
}

// Validate returns EINVALID naming the argument when the arguments cannot be
// served: negative or above MaxPageSize, or first and last together.
func (p PageArgs) Validate() error {
	if p.First != nil && p.Last != nil {
		return InvalidField("last", "first and last cannot be used together")
	}
	for name, n := range map[string]*int{"first": p.First, "last": p.Last} {
		if n == nil {
			continue
		}
		if *n < 0 {
			return InvalidField(name, "%s must not be negative", name)
		}
		if *n > MaxPageSize {
			return InvalidField(name, "%s must be at most %d, got %s", name, MaxPageSize, strconv.Itoa(*n))
		}
	}
	return nil
}

// Backward reports whether the page is read from the end (last/before).
func (p PageArgs) Backward() bool { return p.Last != nil || (p.First == nil && p.Before != nil) }

// Limit is the number of rows the page holds.
func (p PageArgs) Limit() int {
	switch {
	case p.First != nil:
		return *p.First
	case p.Last != nil:
		return *p.Last
	default:
		return DefaultPageSize
	}
}

// PageInfo is a Relay connection's page information.
type PageInfo struct {
	HasNextPage     bool
	HasPreviousPage bool
	StartCursor     *string
	EndCursor       *string
}

// SortDirection orders a list.
type SortDirection string

const (
	SortAsc  SortDirection = "ASC"
	SortDesc SortDirection = "DESC"
)
