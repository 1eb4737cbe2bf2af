package postgres

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// params collects positional query parameters while SQL is assembled, so
// fragments can be composed without counting placeholders by hand.
type params []any

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	*p = append(*p, v)
	return fmt.Sprintf("$%d", len(*p))
}

// sortKey is the column a list is sorted by; id always breaks ties, so every
// row has a unique position and keyset pages never skip or repeat a row.
type sortKey struct {
	// name identifies the order inside cursors, so a cursor from one order is
	// refused by another rather than silently misread.
	name string
	// column is the qualified column, like "o.created_at".
	column string
	// cast is the column's SQL type, for the cursor's value parameter.
	cast string
	// idColumn is the qualified id column, like "o.id".
	idColumn string
	desc     bool
}

// withDirection returns k sorted in direction d; "" keeps the field's default.
func (k sortKey) withDirection(d switchyard.SortDirection) (sortKey, error) {
	switch d {
	case switchyard.SortAsc:
		k.desc = false
	case switchyard.SortDesc:
		k.desc = true
	case "":
	default:
		return k, switchyard.InvalidField("orderBy.direction", "unknown direction %q", d)
	}
	return k, nil
}

type cursor struct {
	Sort  string `json:"s"`
	Value string `json:"v"`
	ID    string `json:"i"`
}

func encodeCursor(sort, value, id string) string {
	b, _ := json.Marshal(cursor{Sort: sort, Value: value, ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(field, raw, sort string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || !validID(c.ID) {
		return c, switchyard.InvalidField(field, "malformed cursor")
	}
	if c.Sort != sort {
		return c, switchyard.InvalidField(field, "cursor belongs to a list in another order")
	}
	return c, nil
}

// keyset is one page of a keyset-paginated read. Rows are read with LIMIT n+1
// so the extra row tells whether another page follows, without a count.
type keyset struct {
	key  sortKey
	args switchyard.PageArgs
}

// clause returns the page's condition (TRUE when unbounded), its ORDER BY and
// LIMIT, adding the cursor values to ps. The ORDER BY is the scan order: for a
// backward page it is the list's order reversed, and finish restores it.
func (k keyset) clause(ps *params) (cond, orderBy string, limit int, err error) {
	if err := k.args.Validate(); err != nil {
		return "", "", 0, err
	}
	cond = "TRUE"
	bound := func(field string, raw *string, after bool) error {
		if raw == nil {
			return nil
		}
		c, err := decodeCursor(field, *raw, k.key.name)
		if err != nil {
			return err
		}
		// after in ASC order, or before in DESC order, reads greater keys.
		op := "<"
		if after != k.key.desc {
			op = ">"
		}
		cond += fmt.Sprintf(" AND (%s, %s) %s (%s::%s, %s::uuid)", k.key.column, k.key.idColumn, op, ps.add(c.Value), k.key.cast, ps.add(c.ID))
		return nil
	}
	if err := bound("after", k.args.After, true); err != nil {
		return "", "", 0, err
	}
	if err := bound("before", k.args.Before, false); err != nil {
		return "", "", 0, err
	}
	dir := "ASC"
	if k.key.desc != k.args.Backward() {
		dir = "DESC"
	}
	orderBy = fmt.Sprintf("%s %s, %s %s", k.key.column, dir, k.key.idColumn, dir)
	return cond, orderBy, k.args.Limit() + 1, nil
}

// sortValueSQL selects the sort column as text; cursors carry it verbatim and
// clause casts it back, so timestamps and numerics round-trip exactly.
func (k keyset) sortValueSQL() string { return k.key.column + "::text" }

// selectPage returns the statement that reads the page out of the rows of from
// for which where holds: columns, then the sort value withSortValue scans.
func (k keyset) selectPage(columns, from, where string, ps *params) (string, error) {
	cond, orderBy, limit, err := k.clause(ps)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`SELECT %s, %s FROM %s WHERE %s AND %s ORDER BY %s LIMIT %d`,
		columns, k.sortValueSQL(), from, where, cond, orderBy, limit), nil
}

// sortedRow is a node with the text of its sort column, which its cursor
// carries.
type sortedRow[T any] struct {
	node  T
	value string
}

// withSortValue scans a row of a page: the node's columns, then its sort
// value.
func withSortValue[T any](scan func(row pgx.Row, extra ...any) (T, error)) pgx.RowToFunc[sortedRow[T]] {
	return func(r pgx.CollectableRow) (sortedRow[T], error) {
		var s sortedRow[T]
		var err error
		s.node, err = scan(r, &s.value)
		return s, err
	}
}

// parentRow is a row of a batch read, which reads one page per parent in one
// statement: the parent the row belongs to, and its node.
type parentRow[T any] struct {
	parent string
	sortedRow[T]
	// empty marks the row a LEFT JOIN LATERAL yields for a parent whose page
	// has no node, so that the parent still answers.
	empty bool
}

// groupByParent gives each parent its page's rows, in the order read. A
// parent read with an empty page is present with no rows, which tells it
// apart from a parent not read at all.
func groupByParent[T any](rows []parentRow[T]) map[string][]sortedRow[T] {
	out := map[string][]sortedRow[T]{}
	for _, r := range rows {
		list := out[r.parent]
		if !r.empty {
			list = append(list, r.sortedRow)
		}
		out[r.parent] = list
	}
	return out
}

// pageEdges finishes a page read into sorted rows and builds its edges with
// edge; idOf gives a node's id for its cursor.
func pageEdges[T, E any](k keyset, rows []sortedRow[T], idOf func(T) string, edge func(cursor string, node T) E) ([]E, switchyard.PageInfo) {
	rows, cursors, info := finish(k, rows, func(r sortedRow[T]) (string, string) { return r.value, idOf(r.node) })
	edges := make([]E, len(rows))
	for i, r := range rows {
		edges[i] = edge(cursors[i], r.node)
	}
	return edges, info
}

// finish trims the look-ahead row, restores the list order of a backward page
// and computes the page info. rows holds what the clause's query returned.
func finish[T any](k keyset, rows []T, cursorOf func(T) (value, id string)) ([]T, []string, switchyard.PageInfo) {
	n := k.args.Limit()
	extra := len(rows) > n
	if extra {
		rows = rows[:n]
	}
	var info switchyard.PageInfo
	if k.args.Backward() {
		slices.Reverse(rows)
		info.HasPreviousPage = extra
		info.HasNextPage = k.args.Before != nil
	} else {
		info.HasNextPage = extra
		info.HasPreviousPage = k.args.After != nil
	}
	cursors := make([]string, len(rows))
	for i, r := range rows {
		v, id := cursorOf(r)
		cursors[i] = encodeCursor(k.key.name, v, id)
	}
	if len(cursors) > 0 {
		info.StartCursor = &cursors[0]
		info.EndCursor = &cursors[len(cursors)-1]
	}
	return rows, cursors, info
}
