package switchyard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Search finds users, projects, orders and integrations by typing. The index
// holds one SearchDocument per thing, kept current by the indexer that follows
// the event log; a query carries the caller's Viewer so the index itself leaves
// out what the caller may not read, and totals and facet counts never reveal it.
// Hits name documents only: what a hit shows is loaded through the services,
// which apply the access rule again on current data.

// SearchType is the kind of thing a search document describes.
type SearchType string

const (
	SearchUser        SearchType = "USER"
	SearchProject     SearchType = "PROJECT"
	SearchOrder       SearchType = "ORDER"
	SearchIntegration SearchType = "INTEGRATION"
)

// SearchTypes lists every SearchType.
var SearchTypes = []SearchType{SearchUser, SearchProject, SearchOrder, SearchIntegration}

// Valid reports whether t is a known type.
func (t SearchType) Valid() bool { return slices.Contains(SearchTypes, t) }

// Facets a search can count hits by.
const (
	SearchFacetType    = "type"
	SearchFacetStatus  = "status"
	SearchFacetProject = "project"
)

// SearchFacets lists every facet, in the order results report them.
var SearchFacets = []string{SearchFacetType, SearchFacetStatus, SearchFacetProject}

// Highlightable fields, as SearchHighlight.Field names them.
const (
	SearchFieldName          = "name"
	SearchFieldEmail         = "email"
	SearchFieldNumber        = "number"
	SearchFieldDescription   = "description"
	SearchFieldCustomerName  = "customerName"
	SearchFieldCustomerEmail = "customerEmail"
	SearchFieldProjectName   = "projectName"
)

// Search limits. Queries above them are refused rather than cut, so callers
// notice.
const (
	MaxSearchQueryLength   = 256 // characters
	DefaultSearchPageSize  = 20
	DefaultSuggestPageSize = 10
)

// SearchDocument is what the index keeps about one user, project, order or
// integration: the text to match and display, the keys to filter and facet on,
// and who may read it. Text fields are optional; empty ones are not indexed.
type SearchDocument struct {
	Type SearchType
	ID   string
	// Version orders the revisions of one document (Type, ID): an index keeps
	// the highest version it was given, and a write or delete with a version
	// at or below it changes nothing, so replaying the event log is harmless.
	// It must grow with every change to any field, access fields included; the
	// event's Seq does (a rebuild uses the log's latest Seq when it started).
	Version int64

	// Name is a user's, project's or integration's name. Strongly weighted.
	Name string
	// Email is a user's email. An exact email match ranks first.
	Email string
	// Number is an order's number ("SO-001432"). An exact number ranks first;
	// "1432", "001432" and "so001432" are exact too, and the start of a
	// number matches as a prefix.
	Number string
	// Description is a project's description, an order's item names and SKUs,
	// an integration's kind and description. Weakly weighted.
	Description string
	// CustomerName and CustomerEmail name an order's customer, and ProjectName
	// the project an order or integration belongs to, so "alice 1432" or
	// "acme refunds" find orders. Weighted below Name and Email.
	CustomerName  string
	CustomerEmail string
	ProjectName   string

	// Status is a project's, order's or integration's status, for the status
	// filter and facet. Users have none.
	Status string
	// ProjectID is the project the document belongs to (a project: itself),
	// for the project filter and facet. Users have none.
	ProjectID string
	CreatedAt time.Time
	// Total is an order's total for the minTotal/maxTotal range filter ("" for
	// other documents). Totals in different currencies compare as numbers.
	Total    Decimal
	Currency string

	// Access: a member may read the document when one of ProjectIDs is among
	// the projects they may read, or when UserIDs names them. Admins read
	// everything. An order: its project and its customer. A project: itself
	// (none once DELETED, leaving it to admins). A user: the projects they
	// own, belong to or ordered in, and themselves. An integration: its
	// project.
	ProjectIDs []string
	UserIDs    []string
}

// Key is the document's identity in the index, "TYPE/id".
func (d *SearchDocument) Key() string { return SearchKey(d.Type, d.ID) }

// SearchKey is the identity of document (t, id) in the index.
func SearchKey(t SearchType, id string) string { return string(t) + "/" + id }

// ParseSearchKey splits a SearchKey.
func ParseSearchKey(key string) (SearchType, string, bool) {
	t, id, ok := strings.Cut(key, "/")
	if !ok || !SearchType(t).Valid() || id == "" {
		return "", "", false
	}
	return SearchType(t), id, true
}

// Validate returns an error for a document the index cannot keep: an unknown
// type, no id, a version below 1, or a total that is not a Decimal.
func (d *SearchDocument) Validate() error {
	if !d.Type.Valid() {
		return InvalidField("type", "unknown search type %q", d.Type)
	}
	if d.ID == "" {
		return InvalidField("id", "a search document needs an id")
	}
	if d.Version < 1 {
		return InvalidField("version", "version must be positive, got %d", d.Version)
	}
	if d.Total != "" {
		if _, err := ParseDecimal(string(d.Total)); err != nil {
			return InvalidField("total", "%v", err)
		}
	}
	return nil
}

// SearchFilter narrows a search. Zero fields do not filter.
type SearchFilter struct {
	ProjectID *string
	// Status keeps documents with any of these statuses.
	Status        []string
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	// MinTotal and MaxTotal are inclusive bounds on an order's total; documents
	// without a total do not pass a bound.
	MinTotal *Decimal
	MaxTotal *Decimal
}

// IsZero reports whether the filter filters nothing.
func (f SearchFilter) IsZero() bool {
	return f.ProjectID == nil && len(f.Status) == 0 && f.CreatedAfter == nil &&
		f.CreatedBefore == nil && f.MinTotal == nil && f.MaxTotal == nil
}

// SearchQuery is one search request.
type SearchQuery struct {
	// Text is what the user typed. It is never parsed as query syntax: quotes
	// mark phrases, everything else (":", "*", "(", "\", "OR", "{}") is text.
	Text   string
	Types  []SearchType // empty: every type
	Filter SearchFilter
	// Facets names the facets to count (SearchFacets); empty counts none.
	Facets []string
	First  *int   // default DefaultSearchPageSize, at most MaxPageSize
	After  string // a SearchHit.Cursor from the same query
	// Viewer is whose rights the search runs with. nil reads nothing.
	Viewer *Viewer
}

// Validate normalizes the query (trims Text, defaults First) and returns
// EINVALID naming the argument at fault: "query" when it is empty or
// whitespace with no filter, or longer than MaxSearchQueryLength; "first";
// "types[i]"; "facets[i]"; "filter.status[i]", "filter.minTotal",
// "filter.createdAfter". Cursors are checked by the index ("after").
func (q *SearchQuery) Validate() error {
	q.Text = strings.TrimSpace(q.Text)
	if q.Text == "" && q.Filter.IsZero() {
		return InvalidField("query", "type something to search for, or set a filter")
	}
	if err := validateSearchText("query", q.Text); err != nil {
		return err
	}
	first, err := validateSearchFirst(q.First, DefaultSearchPageSize)
	if err != nil {
		return err
	}
	q.First = &first
	if err := validateSearchTypes(q.Types); err != nil {
		return err
	}
	for i, f := range q.Facets {
		if !slices.Contains(SearchFacets, f) {
			return InvalidField(fmt.Sprintf("facets[%d]", i), "unknown facet %q; use %s", f, strings.Join(SearchFacets, ", "))
		}
	}
	for i, s := range q.Filter.Status {
		if strings.TrimSpace(s) == "" || len(s) > 64 {
			return InvalidField(fmt.Sprintf("filter.status[%d]", i), "unknown status %q", s)
		}
	}
	for name, d := range map[string]*Decimal{"filter.minTotal": q.Filter.MinTotal, "filter.maxTotal": q.Filter.MaxTotal} {
		if d != nil {
			if _, err := ParseDecimal(string(*d)); err != nil {
				return InvalidField(name, "%v", err)
			}
		}
	}
	f := q.Filter
	if f.MinTotal != nil && f.MaxTotal != nil && f.MinTotal.Rat().Cmp(f.MaxTotal.Rat()) > 0 {
		return InvalidField("filter.minTotal", "minTotal must not be above maxTotal")
	}
	if f.CreatedAfter != nil && f.CreatedBefore != nil && f.CreatedAfter.After(*f.CreatedBefore) {
		return InvalidField("filter.createdAfter", "createdAfter must not be after createdBefore")
	}
	return nil
}

// SearchResults is one page of a search.
type SearchResults struct {
	// TotalCount counts every readable document that matches, not the page.
	TotalCount int
	Hits       []SearchHit
	// Facets follow the order of SearchQuery.Facets; they count every
	// readable match, not the page.
	Facets   []SearchFacet
	PageInfo PageInfo
}

// SearchHit names one matching document, best first.
type SearchHit struct {
	Type  SearchType
	ID    string
	Score float64
	// Highlights are the matched fields with their best fragments.
	Highlights []SearchHighlight
	// Cursor resumes the search right after this hit (SearchQuery.After).
	Cursor string
}

// SearchHighlight is the matched parts of one field. Snippets are HTML: the
// field's text escaped, with each match wrapped in <mark>…</mark>.
type SearchHighlight struct {
	Field    string // one of the SearchField… names
	Snippets []string
}

// SearchFacet counts the matches by one field, largest bucket first (ties by
// value), at most 20 buckets.
type SearchFacet struct {
	Field   string // one of SearchFacets
	Buckets []SearchFacetBucket
}

// SearchFacetBucket is one value of a facet and how many matches have it.
type SearchFacetBucket struct {
	Value string
	Count int
}

// SuggestQuery asks for type-ahead completions of what the user is typing.
type SuggestQuery struct {
	// Prefix is the text typed so far; its last word is completed, earlier
	// words must match. Never parsed as syntax.
	Prefix string
	Types  []SearchType
	First  *int // default DefaultSuggestPageSize, at most MaxPageSize
	Viewer *Viewer
}

// Validate normalizes the query and returns EINVALID naming "prefix",
// "first" or "types[i]".
func (q *SuggestQuery) Validate() error {
	q.Prefix = strings.TrimSpace(q.Prefix)
	if q.Prefix == "" {
		return InvalidField("prefix", "prefix must not be empty")
	}
	if err := validateSearchText("prefix", q.Prefix); err != nil {
		return err
	}
	first, err := validateSearchFirst(q.First, DefaultSuggestPageSize)
	if err != nil {
		return err
	}
	q.First = &first
	return validateSearchTypes(q.Types)
}

// SearchSuggestion is one completion: the document and the text to show
// (a name, an email or an order number).
type SearchSuggestion struct {
	Type  SearchType
	ID    string
	Text  string
	Score float64
}

// SearchIndex is the search backend: Bleve embedded in the process, or an
// Elasticsearch cluster. Every method returns ESEARCHUNAVAILABLE when the
// backend cannot be reached, and honours ctx.
type SearchIndex interface {
	// Index adds or replaces documents. A document whose version is not above
	// the one the index holds for it (or its deletion) is skipped, not an
	// error. When Index returns nil the documents are searchable.
	// Returns EINVALID for a document that fails Validate (nothing is written).
	Index(ctx context.Context, docs []SearchDocument) error

	// Delete removes a document as of version: a later Index with a version
	// at or below it does not bring it back. Deleting a missing document
	// records the version all the same.
	Delete(ctx context.Context, typ SearchType, id string, version int64) error

	// Search runs q (after q.Validate) with the rights of q.Viewer.
	// Returns EINVALID naming the argument for bad input (see
	// SearchQuery.Validate; "after" for a malformed cursor) and
	// EUNAUTHENTICATED when q.Viewer is nil.
	Search(ctx context.Context, q SearchQuery) (*SearchResults, error)

	// Suggest completes q.Prefix with the rights of q.Viewer, best first.
	// Returns EINVALID as SuggestQuery.Validate, EUNAUTHENTICATED when
	// q.Viewer is nil.
	Suggest(ctx context.Context, q SuggestQuery) ([]SearchSuggestion, error)

	// Rebuild starts building a complete new index beside the live one, or
	// resumes the unfinished rebuild an interrupted run left behind (its
	// Checkpoint is then not empty). Searches keep reading the live index
	// until Commit. One rebuild at a time: callers serialize them across
	// processes.
	// Returns ECONFLICT when a rebuild is already open through this index.
	Rebuild(ctx context.Context) (SearchRebuild, error)

	// Ping checks that the backend answers, for readiness.
	Ping(ctx context.Context) error

	// Close releases the index; an open rebuild stays resumable.
	Close() error
}

// SearchRebuild is a new index being filled. Changes the indexer writes to the
// live index meanwhile do not reach it: before Commit, replay the event log
// from the position saved when the rebuild began (versions make replays
// harmless), and after Commit replay again from there to catch the tail.
type SearchRebuild interface {
	// Checkpoint is the text last saved with SetCheckpoint, "" for a fresh
	// rebuild. The caller decides what it holds (the log position the rebuild
	// began at, the last id done per type).
	Checkpoint() string

	// SetCheckpoint durably saves progress; save it after the Index calls it
	// covers returned, so a resumed rebuild redoes at most one batch.
	SetCheckpoint(ctx context.Context, checkpoint string) error

	// Index and Delete write into the new index, under SearchIndex's rules.
	Index(ctx context.Context, docs []SearchDocument) error
	Delete(ctx context.Context, typ SearchType, id string, version int64) error

	// Commit makes the new index the live one in one atomic step (an alias
	// swap, a directory swap) and discards the old one. Searches never see a
	// partial index. Once committed or aborted, the rebuild refuses writes
	// and Commit with ECONFLICT; Abort again does nothing.
	Commit(ctx context.Context) error

	// Abort discards the new index; the live one is untouched.
	Abort(ctx context.Context) error
}

func validateSearchText(field, text string) error {
	if !utf8.ValidString(text) {
		return InvalidField(field, "%s must be valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(text); n > MaxSearchQueryLength {
		return InvalidField(field, "%s must be at most %d characters, got %d", field, MaxSearchQueryLength, n)
	}
	return nil
}

func validateSearchFirst(first *int, def int) (int, error) {
	if first == nil {
		return def, nil
	}
	if *first < 0 {
		return 0, InvalidField("first", "first must not be negative")
	}
	if *first > MaxPageSize {
		return 0, InvalidField("first", "first must be at most %d, got %d", MaxPageSize, *first)
	}
	return *first, nil
}

func validateSearchTypes(types []SearchType) error {
	for i, t := range types {
		if !t.Valid() {
			return InvalidField(fmt.Sprintf("types[%d]", i), "unknown search type %q", t)
		}
	}
	return nil
}
