package switchyard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

func TestSearchQueryValidate(t *testing.T) {
	dec := func(s string) *switchyard.Decimal { d := switchyard.Decimal(s); return &d }
	now := time.Now()
	tests := []struct {
		name  string
		q     switchyard.SearchQuery
		field string // "" means valid
	}{
		{"text", switchyard.SearchQuery{Text: "alice"}, ""},
		{"empty", switchyard.SearchQuery{Text: ""}, "query"},
		{"whitespace", switchyard.SearchQuery{Text: " \t\n "}, "query"},
		{"empty with filter", switchyard.SearchQuery{Filter: switchyard.SearchFilter{Status: []string{"PAID"}}}, ""},
		{"empty with only types", switchyard.SearchQuery{Types: []switchyard.SearchType{"ORDER"}}, "query"},
		{"256 runes", switchyard.SearchQuery{Text: strings.Repeat("é", 256)}, ""},
		{"257 runes", switchyard.SearchQuery{Text: strings.Repeat("a", 257)}, "query"},
		{"bad utf8", switchyard.SearchQuery{Text: "a\xffb"}, "query"},
		{"first 100", switchyard.SearchQuery{Text: "a", First: ptr(100)}, ""},
		{"first 0", switchyard.SearchQuery{Text: "a", First: ptr(0)}, ""},
		{"first 101", switchyard.SearchQuery{Text: "a", First: ptr(101)}, "first"},
		{"first negative", switchyard.SearchQuery{Text: "a", First: ptr(-1)}, "first"},
		{"unknown type", switchyard.SearchQuery{Text: "a", Types: []switchyard.SearchType{"ORDER", "ANIMAL"}}, "types[1]"},
		{"unknown facet", switchyard.SearchQuery{Text: "a", Facets: []string{"type", "colour"}}, "facets[1]"},
		{"blank status", switchyard.SearchQuery{Text: "a", Filter: switchyard.SearchFilter{Status: []string{" "}}}, "filter.status[0]"},
		{"bad total", switchyard.SearchQuery{Text: "a", Filter: switchyard.SearchFilter{MaxTotal: dec("1e9")}}, "filter.maxTotal"},
		{"min above max", switchyard.SearchQuery{Text: "a", Filter: switchyard.SearchFilter{MinTotal: dec("10"), MaxTotal: dec("9.99")}}, "filter.minTotal"},
		{"after after before", switchyard.SearchQuery{Text: "a", Filter: switchyard.SearchFilter{CreatedAfter: ptr(now), CreatedBefore: ptr(now.Add(-time.Hour))}}, "filter.createdAfter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if tt.q.First == nil {
					t.Fatal("First was not defaulted")
				}
				return
			}
			if switchyard.ErrorCode(err) != switchyard.EINVALID || switchyard.ErrorField(err) != tt.field {
				t.Fatalf("Validate() = %v, want BAD_USER_INPUT on %s", err, tt.field)
			}
		})
	}
}

func TestSuggestQueryValidate(t *testing.T) {
	q := switchyard.SuggestQuery{Prefix: "  al "}
	if err := q.Validate(); err != nil || q.Prefix != "al" || *q.First != switchyard.DefaultSuggestPageSize {
		t.Fatalf("Validate() = %v, prefix %q", err, q.Prefix)
	}
	for _, tt := range []struct {
		q     switchyard.SuggestQuery
		field string
	}{
		{switchyard.SuggestQuery{Prefix: " "}, "prefix"},
		{switchyard.SuggestQuery{Prefix: strings.Repeat("x", 300)}, "prefix"},
		{switchyard.SuggestQuery{Prefix: "a", First: ptr(101)}, "first"},
		{switchyard.SuggestQuery{Prefix: "a", Types: []switchyard.SearchType{"user"}}, "types[0]"},
	} {
		if err := tt.q.Validate(); switchyard.ErrorField(err) != tt.field {
			t.Errorf("%+v: Validate() = %v, want field %s", tt.q, err, tt.field)
		}
	}
}

func TestSearchKey(t *testing.T) {
	typ, id, ok := switchyard.ParseSearchKey(switchyard.SearchKey(switchyard.SearchOrder, "a/b"))
	if !ok || typ != switchyard.SearchOrder || id != "a/b" {
		t.Fatalf("round trip: %v %q %v", typ, id, ok)
	}
	for _, bad := range []string{"", "ORDER", "ORDER/", "order/x", "ANIMAL/x"} {
		if _, _, ok := switchyard.ParseSearchKey(bad); ok {
			t.Errorf("ParseSearchKey(%q) ok", bad)
		}
	}
}
