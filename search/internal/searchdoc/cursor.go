package searchdoc

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/switchyard/switchyard"
)

const cursorPrefix = "sr1:"

// EncodeCursor makes the opaque cursor of a hit from the backend's sort
// values.
func EncodeCursor(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("searchdoc: cursor values must marshal: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(append([]byte(cursorPrefix), b...))
}

// DecodeCursor reads a cursor made by EncodeCursor into v.
// Returns EINVALID naming "after" when it is malformed.
func DecodeCursor(cursor string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		if body, ok := strings.CutPrefix(string(raw), cursorPrefix); ok {
			if err := json.Unmarshal([]byte(body), v); err == nil {
				return nil
			}
		}
	}
	return switchyard.InvalidField("after", "malformed search cursor")
}
