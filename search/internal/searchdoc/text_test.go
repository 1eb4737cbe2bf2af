package searchdoc

import (
	"slices"
	"testing"
)

func TestParseText(t *testing.T) {
	tests := []struct {
		in      string
		words   []string
		phrases []string
	}{
		{"alise ordr 1432", []string{"alise", "ordr", "1432"}, nil},
		{`"acme rockets" refund`, []string{"refund"}, []string{"acme rockets"}},
		{`a "b  c" d "e"`, []string{"a", "d"}, []string{"b c", "e"}},
		{`"unclosed phrase`, []string{"unclosed", "phrase"}, nil},
		{`x "" y`, []string{"x", "y"}, nil},
		{`name:alice OR (bob*) \ {}`, []string{"name:alice", "OR", "(bob*)", `\`, "{}"}, nil},
		{`"a" "b`, []string{"b"}, []string{"a"}},
		{"", nil, nil},
	}
	for _, tt := range tests {
		got := ParseText(tt.in)
		if !slices.Equal(got.Words, tt.words) || !slices.Equal(got.Phrases, tt.phrases) {
			t.Errorf("ParseText(%q) = %q %q, want %q %q", tt.in, got.Words, got.Phrases, tt.words, tt.phrases)
		}
	}
}

func TestNumberKeys(t *testing.T) {
	if got, want := NumberKeys("SO-001432"), []string{"so-001432", "so001432", "001432", "1432"}; !slices.Equal(got, want) {
		t.Errorf("NumberKeys = %q, want %q", got, want)
	}
	if got := NumberKeys("SO-1000000"); !slices.Equal(got, []string{"so-1000000", "so1000000", "1000000"}) {
		t.Errorf("NumberKeys(SO-1000000) = %q", got)
	}
	for _, w := range []string{"SO-001432", "so001432", "001432", "1432", "#1432"} {
		keys := WordNumberKeys(w)
		if !slices.ContainsFunc(keys, func(k string) bool { return slices.Contains(NumberKeys("SO-001432"), k) }) {
			t.Errorf("WordNumberKeys(%q) = %q: none names SO-001432", w, keys)
		}
	}
	if p := WordNumberPrefixes("14"); p != nil {
		t.Errorf("two-character prefix %q", p)
	}
	if p := WordNumberPrefixes("order"); p != nil {
		t.Errorf("prefix without a digit %q", p)
	}
}

func TestFuzziness(t *testing.T) {
	for term, want := range map[string]int{"al": 0, "ordr": 1, "alise": 1, "alison": 2, "1432": 0, "so001432": 0} {
		if got := Fuzziness(term); got != want {
			t.Errorf("Fuzziness(%q) = %d, want %d", term, got, want)
		}
	}
}

func TestCursor(t *testing.T) {
	c := EncodeCursor([]any{1.5, "ORDER/x"})
	var v []any
	if err := DecodeCursor(c, &v); err != nil || len(v) != 2 {
		t.Fatalf("round trip: %v %v", v, err)
	}
	for _, bad := range []string{"", "!!", "e30", EncodeCursor(1)[:3]} {
		var v []any
		if err := DecodeCursor(bad, &v); err == nil {
			t.Errorf("DecodeCursor(%q) accepted", bad)
		}
	}
}
