package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// SearchSource implements switchyard.SearchSource: it builds search documents
// straight from the tables, one statement per batch, without a caller and
// without access rules; the access fields it fills are what the index filters
// on. Each statement reads the row with everything denormalized into its
// document (an order's customer, project and items), so a batch of a
// rebuild and a batch of changed documents cost the same.
type SearchSource struct {
	db *DB
}

var _ switchyard.SearchSource = (*SearchSource)(nil)

// NewSearchSource returns the document source over db.
func NewSearchSource(db *DB) *SearchSource { return &SearchSource{db: db} }

// searchDocQuery is the statement of one type: the columns it reads and the
// FROM clause, with the alias of the table whose id keys the scan.
type searchDocQuery struct {
	columns, from, id string
	// where is always there (deleted users are not documents).
	where string
	scan  func(row pgx.Row, version int64) (switchyard.SearchDocument, error)
	// filters the type accepts in a SearchScan.
	byProject, byCustomer string
}

// The user's access fields are the projects they own, belong to or ordered in,
// whatever the project's status: a viewer never holds a DELETED project, so
// leaving it in is exact and spares re-indexing every member and customer
// when a project is deleted.
var searchDocQueries = map[switchyard.SearchType]searchDocQuery{
	switchyard.SearchUser: {
		columns: `u.id::text, u.name, u.email, u.created_at, array(
			SELECT p.id::text FROM projects p WHERE p.owner_id = u.id
			UNION SELECT pm.project_id::text FROM project_members pm WHERE pm.user_id = u.id
			UNION SELECT o.project_id::text FROM orders o WHERE o.customer_id = u.id)`,
		from:  `users u`,
		id:    `u.id`,
		where: `u.deleted_at IS NULL`,
		scan: func(row pgx.Row, version int64) (switchyard.SearchDocument, error) {
			d := switchyard.SearchDocument{Type: switchyard.SearchUser, Version: version}
			err := row.Scan(&d.ID, &d.Name, &d.Email, &d.CreatedAt, &d.ProjectIDs)
			d.UserIDs = []string{d.ID}
			return d, err
		},
	},
	// A DELETED project is left to admins (no access fields).
	switchyard.SearchProject: {
		columns: `p.id::text, p.name, coalesce(p.description, ''), p.status, p.created_at`,
		from:    `projects p`,
		id:      `p.id`,
		where:   `TRUE`,
		scan: func(row pgx.Row, version int64) (switchyard.SearchDocument, error) {
			d := switchyard.SearchDocument{Type: switchyard.SearchProject, Version: version}
			err := row.Scan(&d.ID, &d.Name, &d.Description, &d.Status, &d.CreatedAt)
			d.ProjectID = d.ID
			if d.Status != string(switchyard.ProjectDeleted) {
				d.ProjectIDs = []string{d.ID}
			}
			return d, err
		},
	},
	// An order's description is its items, "Claw hammer (HW-1001), …", so a
	// product name or SKU finds it.
	switchyard.SearchOrder: {
		columns: `o.id::text, o.number, o.project_id::text, o.customer_id::text, o.status, o.currency,
			o.total::text, o.created_at, u.name, u.email, p.name,
			coalesce((SELECT string_agg(i.name || ' (' || i.sku || ')', ', ' ORDER BY i.position)
				FROM order_items i WHERE i.order_id = o.id), '')`,
		from:       `orders o JOIN users u ON u.id = o.customer_id JOIN projects p ON p.id = o.project_id`,
		id:         `o.id`,
		where:      `TRUE`,
		byProject:  `o.project_id`,
		byCustomer: `o.customer_id`,
		scan: func(row pgx.Row, version int64) (switchyard.SearchDocument, error) {
			d := switchyard.SearchDocument{Type: switchyard.SearchOrder, Version: version}
			var customer, total string
			err := row.Scan(&d.ID, &d.Number, &d.ProjectID, &customer, &d.Status, &d.Currency,
				&total, &d.CreatedAt, &d.CustomerName, &d.CustomerEmail, &d.ProjectName, &d.Description)
			d.Total = switchyard.Decimal(total)
			d.ProjectIDs = []string{d.ProjectID}
			d.UserIDs = []string{customer}
			return d, err
		},
	},
	// The endpoint URL is never indexed: it may carry the other system's
	// token. The description is what the integration connects to.
	switchyard.SearchIntegration: {
		columns:   `i.id::text, i.name, i.provider, i.direction, i.status, i.project_id::text, p.name, i.created_at`,
		from:      `integrations i JOIN projects p ON p.id = i.project_id`,
		id:        `i.id`,
		where:     `TRUE`,
		byProject: `i.project_id`,
		scan: func(row pgx.Row, version int64) (switchyard.SearchDocument, error) {
			d := switchyard.SearchDocument{Type: switchyard.SearchIntegration, Version: version}
			var provider, direction string
			err := row.Scan(&d.ID, &d.Name, &provider, &direction, &d.Status, &d.ProjectID, &d.ProjectName, &d.CreatedAt)
			d.Description = strings.ToLower(provider + " " + direction)
			d.ProjectIDs = []string{d.ProjectID}
			return d, err
		},
	},
}

func searchQueryOf(t switchyard.SearchType) (searchDocQuery, error) {
	q, ok := searchDocQueries[t]
	if !ok {
		return q, switchyard.InvalidField("type", "unknown search type %q", t)
	}
	return q, nil
}

// SearchDocuments loads the documents of t among ids in one statement.
func (s *SearchSource) SearchDocuments(ctx context.Context, t switchyard.SearchType, ids []string, version int64) ([]switchyard.SearchDocument, error) {
	q, err := searchQueryOf(t)
	if err != nil {
		return nil, err
	}
	ids = batchIDs(ids)
	if len(ids) == 0 {
		return []switchyard.SearchDocument{}, nil
	}
	sql := fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND %s = ANY($1::uuid[])`, q.columns, q.from, q.where, q.id)
	return s.collect(ctx, q, version, sql, ids)
}

// ScanSearchDocuments reads the next batch in id order: a keyset over the
// primary key, so every batch is one index range scan however far in.
func (s *SearchSource) ScanSearchDocuments(ctx context.Context, scan switchyard.SearchScan, version int64) ([]switchyard.SearchDocument, error) {
	q, err := searchQueryOf(scan.Type)
	if err != nil {
		return nil, err
	}
	if scan.Limit < 1 || scan.Limit > switchyard.MaxSearchScan {
		return nil, switchyard.InvalidField("limit", "limit must be between 1 and %d", switchyard.MaxSearchScan)
	}
	var ps params
	conds := []string{q.where}
	if scan.After != "" {
		if !validID(scan.After) {
			return nil, switchyard.InvalidField("after", "not an id: %q", scan.After)
		}
		conds = append(conds, q.id+" > "+ps.add(scan.After)+"::uuid")
	}
	for _, f := range []struct{ name, value, column string }{
		{"projectId", scan.ProjectID, q.byProject},
		{"customerId", scan.CustomerID, q.byCustomer},
	} {
		if f.value == "" {
			continue
		}
		if f.column == "" {
			return nil, switchyard.InvalidField(f.name, "%s documents have no %s", scan.Type, f.name)
		}
		if !validID(f.value) {
			return []switchyard.SearchDocument{}, nil
		}
		conds = append(conds, f.column+" = "+ps.add(f.value)+"::uuid")
	}
	sql := fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT %d`,
		q.columns, q.from, strings.Join(conds, " AND "), q.id, scan.Limit)
	return s.collect(ctx, q, version, sql, ps...)
}

// CountSearchDocuments counts what a full scan of t returns.
func (s *SearchSource) CountSearchDocuments(ctx context.Context, t switchyard.SearchType) (int, error) {
	q, err := searchQueryOf(t)
	if err != nil {
		return 0, err
	}
	table, _, _ := strings.Cut(q.from, " JOIN ")
	var n int
	err = s.db.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s`, table, q.where)).Scan(&n)
	return n, translate(err)
}

func (s *SearchSource) collect(ctx context.Context, q searchDocQuery, version int64, sql string, args ...any) ([]switchyard.SearchDocument, error) {
	rows, err := s.db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	docs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (switchyard.SearchDocument, error) {
		return q.scan(r, version)
	})
	if err != nil {
		return nil, translate(err)
	}
	for i := range docs {
		// Timestamps are instants; UTC keeps the index's dates comparable.
		docs[i].CreatedAt = docs[i].CreatedAt.In(time.UTC)
	}
	return docs, nil
}
