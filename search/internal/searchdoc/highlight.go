package searchdoc

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard/switchyard"
)

// Mark wraps a highlighted match.
const (
	MarkOpen  = "<mark>"
	MarkClose = "</mark>"
)

// Highlights turns the snippets a backend's highlighter made, by field, into a
// hit's highlights. A snippet that marks nothing is left out (a highlighter
// may return a field's opening text when nothing in it matched), and so is a
// field left with no snippet. An order number the words matched as a key
// ("1432", "so001432", the start "SO-0014") gets its snippet here: keys are
// not text, so no highlighter sees that match, and the number field's own
// snippet would show the number without a mark.
func Highlights(snippets map[string][]string, number string, words []string) []switchyard.SearchHighlight {
	var out []switchyard.SearchHighlight
	for _, f := range HighlightFields {
		var keep []string
		if f == FieldNumber {
			if s := MarkNumber(number, words); s != "" {
				keep = []string{s}
			}
		}
		if keep == nil {
			for _, s := range snippets[f] {
				if strings.Contains(s, MarkOpen) {
					keep = append(keep, s)
				}
			}
		}
		if len(keep) > 0 {
			out = append(out, switchyard.SearchHighlight{Field: f, Snippets: keep})
		}
	}
	return out
}

// MarkNumber returns number as a highlight snippet, HTML-escaped, with what
// each word matched by key marked: a word equal to one of its NumberKeys
// marks the characters that key stands for ("1432" in SO-001432 marks 1432,
// "so001432" all of it); a word an order number starts with
// (WordNumberPrefixes) marks that start ("SO-0014", or "0014" in the digits).
// "" when no word matches number by key.
func MarkNumber(number string, words []string) string {
	if number == "" || len(words) == 0 {
		return ""
	}
	// The number's letters and digits, lower-cased, with where each is.
	type char struct {
		r          rune
		start, end int // bytes of number
	}
	var chars []char
	var full strings.Builder // the number lower-cased rune by rune, as NumberKeys reads it
	for i, r := range number {
		lr := unicode.ToLower(r)
		full.WriteRune(lr)
		if unicode.IsLetter(lr) || unicode.IsDigit(lr) {
			chars = append(chars, char{lr, i, i + utf8.RuneLen(r)})
		}
	}
	if strings.TrimSpace(number) != number || full.String() != strings.ToLower(number) {
		return "" // keys are made from the trimmed, lower-cased number; leave odd ones to the highlighter
	}
	runes := make([]rune, len(chars))
	for i, c := range chars {
		runes[i] = c.r
	}
	// The keys that are runs of letters and digits all end the number: its
	// letters and digits from the start, from the first digit when only
	// digits follow, and from there without leading zeros.
	starts := []int{0}
	if d := firstDigit(runes); d >= 0 && allDigitRunes(runes[d:]) {
		starts = append(starts, d)
		for d < len(runes) && runes[d] == '0' {
			d++
		}
		if d < len(runes) {
			starts = append(starts, d)
		}
	}
	var spans [][2]int                // bytes of number to mark
	markChars := func(from, to int) { // chars[from:to]
		if from < to {
			spans = append(spans, [2]int{chars[from].start, chars[to-1].end})
		}
	}
	lowerNumber := full.String()
	for _, w := range words {
		wl := strings.ToLower(w)
		wa := []rune(alnum(wl))
		if len(wa) == 0 {
			continue
		}
		if wl == lowerNumber {
			spans = append(spans, [2]int{0, len(number)})
			continue
		}
		exact := []string{string(wa)}
		if allDigitRunes(wa) {
			if s := strings.TrimLeft(string(wa), "0"); s != "" {
				exact = append(exact, s)
			}
		}
		prefix := len(WordNumberPrefixes(w)) > 0
		if prefix && strings.HasPrefix(lowerNumber, wl) {
			// The word as typed, punctuation and all, starts the number.
			markChars(0, countAlnum(wl))
		}
		for _, s := range starts {
			key := string(runes[s:])
			for _, e := range exact {
				if e == key {
					markChars(s, len(runes))
				}
			}
			if prefix && strings.HasPrefix(key, string(wa)) {
				markChars(s, s+len(wa))
			}
		}
	}
	if len(spans) == 0 {
		return ""
	}
	return markSpans(number, spans)
}

// markSpans escapes s and marks the byte ranges, merged where they overlap
// or touch.
func markSpans(s string, spans [][2]int) string {
	marked := make([]bool, len(s))
	for _, sp := range spans {
		for i := sp[0]; i < sp[1]; i++ {
			marked[i] = true
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && marked[j] == marked[i] {
			j++
		}
		if marked[i] {
			b.WriteString(MarkOpen + html.EscapeString(s[i:j]) + MarkClose)
		} else {
			b.WriteString(html.EscapeString(s[i:j]))
		}
		i = j
	}
	return b.String()
}

func countAlnum(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

func firstDigit(rs []rune) int {
	for i, r := range rs {
		if unicode.IsDigit(r) {
			return i
		}
	}
	return -1
}

func allDigitRunes(rs []rune) bool {
	for _, r := range rs {
		if r < '0' || r > '9' {
			return false
		}
	}
	return len(rs) > 0
}
