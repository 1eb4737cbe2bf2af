package searchdoc

import (
	"fmt"
	"testing"
)

func TestMarkNumber(t *testing.T) {
	tests := []struct {
		number string
		words  []string
		want   string
	}{
		{"SO-001432", []string{"1432"}, "SO-00<mark>1432</mark>"},
		{"SO-001432", []string{"001432"}, "SO-<mark>001432</mark>"},
		{"SO-001432", []string{"0001432"}, "SO-00<mark>1432</mark>"}, // more zeros than the number: the same key
		{"SO-001432", []string{"so001432"}, "<mark>SO-001432</mark>"},
		{"SO-001432", []string{"SO-001432"}, "<mark>SO-001432</mark>"},
		{"SO-001432", []string{"#1432"}, "SO-00<mark>1432</mark>"},
		{"SO-001432", []string{"SO-0014"}, "<mark>SO-0014</mark>32"},
		{"SO-001432", []string{"so0014"}, "<mark>SO-0014</mark>32"},
		{"SO-001432", []string{"143"}, "SO-00<mark>143</mark>2"},
		{"SO-014320", []string{"1432"}, "SO-0<mark>1432</mark>0"},
		{"SO-001432", []string{"alice", "ordr", "1432"}, "SO-00<mark>1432</mark>"},
		{"SO-001432", []string{"14"}, ""},   // two characters start nothing
		{"SO-001432", []string{"1433"}, ""}, // another number
		{"SO-001432", []string{"so"}, ""},   // a word of the number is text, the highlighter's
		{"SO-001432", []string{"alice"}, ""},
		{"SO-001432", nil, ""},
		{"", []string{"1432"}, ""},
		{"SO-000", []string{"0"}, ""}, // no key of zeros alone
		{"A<B>-12", []string{"12"}, "A&lt;B&gt;-<mark>12</mark>"},
	}
	for _, tt := range tests {
		if got := MarkNumber(tt.number, tt.words); got != tt.want {
			t.Errorf("MarkNumber(%q, %q) = %q, want %q", tt.number, tt.words, got, tt.want)
		}
	}
}

func TestHighlights(t *testing.T) {
	got := Highlights(map[string][]string{
		FieldName:        {"<mark>Alice</mark> Martin"},
		FieldNumber:      {"SO-001432"},
		FieldDescription: {"Rocket fuel", "launch <mark>pad</mark>"},
		FieldEmail:       {"alice@example.com"},
	}, "SO-001432", []string{"alice", "1432", "pad"})
	want := "[{name [<mark>Alice</mark> Martin]} {number [SO-00<mark>1432</mark>]} {description [launch <mark>pad</mark>]}]"
	if fmt.Sprint(got) != want {
		t.Errorf("Highlights = %v, want %s", got, want)
	}
	// The highlighter's own marks in the number stand when no key matched.
	got = Highlights(map[string][]string{FieldNumber: {"<mark>SO</mark>-001432"}}, "SO-001432", []string{"so"})
	if fmt.Sprint(got) != "[{number [<mark>SO</mark>-001432]}]" {
		t.Errorf("text match in the number: %v", got)
	}
}
