// Package searchdoc is what the search backends share so they index and query
// alike: the flattened document both store (same field names in Bleve and
// Elasticsearch), how user text splits into words and phrases without ever
// being read as query syntax, the fuzziness per word, the order number keys,
// the access terms and the opaque cursor.
package searchdoc

import (
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/switchyard/switchyard"
)

// Field names in both backends.
const (
	FieldKey           = "key" // "TYPE/id": the document id in the index, also a sortable keyword
	FieldType          = "type"
	FieldVersion       = "version"
	FieldKind          = "kind"
	FieldName          = "name"
	FieldNamePrefix    = "namePrefix" // edge n-grams of name, for type-ahead
	FieldEmail         = "email"
	FieldEmailExact    = "emailExact"
	FieldEmailPrefix   = "emailPrefix"
	FieldNumber        = "number"
	FieldNumberKeys    = "numberKeys"
	FieldDescription   = "description"
	FieldCustomerName  = "customerName"
	FieldCustomerEmail = "customerEmail"
	FieldProjectName   = "projectName"
	FieldStatus        = "status"
	FieldProjectID     = "projectId"
	FieldCreatedAt     = "createdAt"
	FieldTotal         = "total"
	FieldCurrency      = "currency"
	FieldACL           = "acl"
)

// WordPattern matches one word of text: a run of letters, digits and marks.
// Everything else separates words.
const WordPattern = `[\p{L}\p{N}\p{M}]+`

// SplitPattern is WordPattern's complement, for tokenizers that split.
const SplitPattern = `[^\p{L}\p{N}\p{M}]+`

// PrefixMinLength is the shortest last word that also matches as the start of
// a name in a search (suggestions complete from one character).
const PrefixMinLength = 3

// FacetFields maps a facet to the field it counts.
var FacetFields = map[string]string{
	switchyard.SearchFacetType:    FieldType,
	switchyard.SearchFacetStatus:  FieldStatus,
	switchyard.SearchFacetProject: FieldProjectID,
}

// FacetSize is how many buckets a facet reports.
const FacetSize = 20

// TextFields are the analyzed fields a word is matched against, with their
// weights: names and numbers over people and projects named by an order, over
// descriptions, over the type word ("order" so "ordr" finds orders). Typos are
// forgiven in words, not in emails and numbers, which match exactly.
var TextFields = []WeightedField{
	{FieldName, 5, true},
	{FieldEmail, 3, false},
	{FieldNumber, 4, false},
	{FieldCustomerName, 1.5, true},
	{FieldCustomerEmail, 1, false},
	{FieldProjectName, 1.2, true},
	{FieldDescription, 0.6, true},
	{FieldKind, 0.4, true},
}

// HighlightFields are the fields hits are highlighted in.
var HighlightFields = []string{
	FieldName, FieldEmail, FieldNumber, FieldDescription,
	FieldCustomerName, FieldCustomerEmail, FieldProjectName,
}

// WeightedField is a field, its boost and whether near misses count.
type WeightedField struct {
	Name  string
	Boost float64
	Fuzzy bool
}

// Boosts of the exact matches that must rank first.
const (
	BoostExactKey    = 40.0 // whole word equals an email or an order number
	BoostNumberStart = 3.0  // the word starts an order number
	BoostNamePrefix  = 1.0  // the last word starts a name
	BoostPhrase      = 4.0
)

// Boosts of what a suggestion completes.
const (
	SuggestBoostName        = 4.0 // the word typed is a whole word of the name
	SuggestBoostNamePrefix  = 3.0 // the word typed starts a word of the name
	SuggestBoostNumber      = 4.0 // the word typed is an order number's key
	SuggestBoostNumberStart = 3.0
	SuggestBoostEmailStart  = 2.0
	SuggestBoostItemStart   = 2.0 // the word typed starts a word of an order's item
)

// Doc is the flattened document both backends store.
type Doc struct {
	Key           string     `json:"key"`
	Type          string     `json:"type"`
	Version       int64      `json:"version"`
	Kind          string     `json:"kind"`
	Name          string     `json:"name,omitempty"`
	Email         string     `json:"email,omitempty"`
	Number        string     `json:"number,omitempty"`
	NumberKeys    []string   `json:"numberKeys,omitempty"`
	Description   string     `json:"description,omitempty"`
	CustomerName  string     `json:"customerName,omitempty"`
	CustomerEmail string     `json:"customerEmail,omitempty"`
	ProjectName   string     `json:"projectName,omitempty"`
	Status        string     `json:"status,omitempty"`
	ProjectID     string     `json:"projectId,omitempty"`
	CreatedAt     *time.Time `json:"createdAt,omitempty"`
	Total         *float64   `json:"total,omitempty"`
	Currency      string     `json:"currency,omitempty"`
	ACL           []string   `json:"acl,omitempty"`
}

// Flatten turns a validated document into what the index stores.
func Flatten(d *switchyard.SearchDocument) *Doc {
	out := &Doc{
		Key:           d.Key(),
		Type:          string(d.Type),
		Version:       d.Version,
		Kind:          Kinds[d.Type],
		Name:          d.Name,
		Email:         strings.ToLower(d.Email),
		Number:        d.Number,
		NumberKeys:    NumberKeys(d.Number),
		Description:   d.Description,
		CustomerName:  d.CustomerName,
		CustomerEmail: strings.ToLower(d.CustomerEmail),
		ProjectName:   d.ProjectName,
		Status:        d.Status,
		ProjectID:     d.ProjectID,
		Currency:      d.Currency,
		ACL:           ACLTerms(d.ProjectIDs, d.UserIDs),
	}
	if !d.CreatedAt.IsZero() {
		t := d.CreatedAt.UTC()
		out.CreatedAt = &t
	}
	if d.Total != "" {
		f := DecimalFloat(d.Total)
		out.Total = &f
	}
	return out
}

// Kinds is the word each type is found by.
var Kinds = map[switchyard.SearchType]string{
	switchyard.SearchUser:        "user",
	switchyard.SearchProject:     "project",
	switchyard.SearchOrder:       "order",
	switchyard.SearchIntegration: "integration",
}

// DecimalFloat converts a validated Decimal for range filters; totals up to
// 15 digits keep their cents exactly enough to compare.
func DecimalFloat(d switchyard.Decimal) float64 {
	f, _ := new(big.Rat).Set(d.Rat()).Float64()
	return f
}

// ACLTerms are the access terms of a document: "p:<project>" and "u:<user>".
func ACLTerms(projectIDs, userIDs []string) []string {
	out := make([]string, 0, len(projectIDs)+len(userIDs))
	for _, p := range projectIDs {
		if p != "" {
			out = append(out, "p:"+p)
		}
	}
	for _, u := range userIDs {
		if u != "" {
			out = append(out, "u:"+u)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ViewerTerms are the access terms a member's query admits; admins need none.
func ViewerTerms(v *switchyard.Viewer) []string {
	ids := make([]string, 0, len(v.ProjectIDs))
	for p, ok := range v.ProjectIDs {
		if ok {
			ids = append(ids, p)
		}
	}
	return ACLTerms(ids, []string{v.UserID})
}

// NumberKeys are the exact forms an order number is found by, lower-cased:
// "SO-001432" → so-001432, so001432, 001432, 1432.
func NumberKeys(number string) []string {
	n := strings.ToLower(strings.TrimSpace(number))
	if n == "" {
		return nil
	}
	keys := []string{n, alnum(n)}
	digits := strings.TrimLeftFunc(n, func(r rune) bool { return !unicode.IsDigit(r) })
	digits = alnum(digits)
	if digits != "" && allDigits(digits) {
		keys = append(keys, digits)
		if s := strings.TrimLeft(digits, "0"); s != "" {
			keys = append(keys, s)
		}
	}
	return compact(keys)
}

// WordNumberKeys are the number keys a typed word equals exactly: "SO-001432",
// "so001432", "001432", "1432" and "#1432" all name SO-001432.
func WordNumberKeys(word string) []string {
	w := strings.ToLower(word)
	a := alnum(w)
	keys := []string{w, a}
	if a != "" && allDigits(a) {
		if s := strings.TrimLeft(a, "0"); s != "" {
			keys = append(keys, s)
		}
	}
	return compact(keys)
}

// WordNumberPrefixes are the prefixes a typed word may start an order number
// with; only words of three or more characters with a digit, so a prefix
// never expands to most of the index.
func WordNumberPrefixes(word string) []string {
	w := strings.ToLower(word)
	a := alnum(w)
	if len(a) < 3 || !strings.ContainsFunc(a, unicode.IsDigit) {
		return nil
	}
	return compact([]string{w, a})
}

func alnum(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func compact(keys []string) []string {
	out := keys[:0]
	for _, k := range keys {
		if k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
