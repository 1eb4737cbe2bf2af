package searchdoc

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text is what a user typed, split into plain words and quoted phrases. It is
// never read as query syntax: the backends build their queries from these
// pieces, so ":", "*", "(", "\", "OR" and "{}" are only characters.
type Text struct {
	// Words are the whitespace-separated words outside quotes, as typed.
	Words []string
	// Phrases are the texts between pairs of double quotes. An unpaired quote
	// is ignored and what follows it counts as words.
	Phrases []string
}

// ParseText splits text into words and phrases.
func ParseText(text string) Text {
	var t Text
	rest := text
	for {
		open := strings.IndexByte(rest, '"')
		if open < 0 {
			t.Words = append(t.Words, strings.Fields(rest)...)
			return t
		}
		closing := strings.IndexByte(rest[open+1:], '"')
		if closing < 0 {
			t.Words = append(t.Words, strings.Fields(rest[:open]+" "+rest[open+1:])...)
			return t
		}
		t.Words = append(t.Words, strings.Fields(rest[:open])...)
		if p := strings.Join(strings.Fields(rest[open+1:open+1+closing]), " "); p != "" {
			t.Phrases = append(t.Phrases, p)
		}
		rest = rest[open+1+closing+1:]
	}
}

// IsEmpty reports whether there is nothing to match.
func (t Text) IsEmpty() bool { return len(t.Words) == 0 && len(t.Phrases) == 0 }

// Fuzziness is the edit distance a term is matched with: none for short terms
// and terms with digits (numbers are exact or prefixes, never near misses), one
// up to five characters, two above.
func Fuzziness(term string) int {
	if strings.ContainsFunc(term, unicode.IsDigit) {
		return 0
	}
	switch n := utf8.RuneCountInString(term); {
	case n <= 2:
		return 0
	case n <= 5:
		return 1
	default:
		return 2
	}
}
