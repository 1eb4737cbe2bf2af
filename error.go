package switchyard

import (
	"errors"
	"fmt"
)

// Error codes. They are the stable extensions.code values clients see; adapters
// translate driver errors into them at their edge and the server maps them once.
const (
	ENOTFOUND        = "NOT_FOUND"
	EINVALID         = "BAD_USER_INPUT"
	EUNAUTHENTICATED = "UNAUTHENTICATED"
	EFORBIDDEN       = "FORBIDDEN"
	ECONFLICT        = "CONFLICT"
	ERATELIMITED     = "RATE_LIMITED"
	EINTERNAL        = "INTERNAL"

	// EUNAVAILABLE: a live stream ended for a reason that is not the
	// client's, such as the server shutting down; the message names the
	// cursor to resume after, on this instance or another.
	EUNAVAILABLE = "UNAVAILABLE"

	// ESEARCHUNAVAILABLE: the search backend cannot be reached. Only search
	// fails with it; the rest of the API keeps working and the indexer catches
	// up when the backend returns.
	ESEARCHUNAVAILABLE = "SEARCH_UNAVAILABLE"
)

// Error is an application error: a code from the vocabulary above, a message
// meant for the client, and for input errors the path of the offending field.
type Error struct {
	Code    string
	Message string
	// Field names the input field at fault, like "input.items[2].quantity".
	Field string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an EINVALID error naming field.
func InvalidField(field string, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err when it is or wraps an *Error, and EINTERNAL
// for any other non-nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-facing message of err. Anything that is not an
// *Error is internal and its text never reaches a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field an EINVALID error names, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
