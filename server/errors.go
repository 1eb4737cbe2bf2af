package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/graph"
)

// internalMessage is all a client learns of an internal error; the request id
// next to it finds the details in the log.
const internalMessage = "internal error"

// presentError maps errors to the error vocabulary once, for every transport:
// switchyard errors keep their message and get extensions.code (and
// extensions.field when they name an input field); errors gqlgen raises itself (parse,
// validation, limits, bad argument values) are the client's and pass through;
// everything else is internal: logged with the request id, and the client sees
// only "internal error" and that id.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var se *switchyard.Error
		if errors.As(err, &se) && se.Code != switchyard.EINTERNAL {
			ext := map[string]any{"code": se.Code}
			// Input errors name the field at fault; so may a NOT_FOUND for a
			// referenced id (input.projectId), which helps just as much.
			if se.Field != "" {
				ext["field"] = se.Field
			}
			return &gqlerror.Error{Message: se.Message, Path: gqlErr.Path, Locations: gqlErr.Locations, Extensions: ext}
		}
		if se == nil && gqlErr.Err == nil {
			return gqlErr
		}
		if se == nil && (isArgumentError(ctx) || isBadRepresentation(err)) {
			return &gqlerror.Error{
				Message:    gqlErr.Message,
				Path:       gqlErr.Path,
				Locations:  gqlErr.Locations,
				Extensions: map[string]any{"code": switchyard.EINVALID},
			}
		}
		id := RequestIDFromContext(ctx)
		attrs := []any{"request_id", id, "path", gqlErr.Path.String(), "error", err.Error()}
		var p *panicError
		if errors.As(err, &p) {
			attrs = append(attrs, "stack", p.stack)
		}
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			// The client went away; nothing is broken.
			level = slog.LevelInfo
		}
		log.Log(ctx, level, "graphql: internal error", attrs...)
		return &gqlerror.Error{
			Message:    internalMessage,
			Path:       gqlErr.Path,
			Locations:  gqlErr.Locations,
			Extensions: map[string]any{"code": switchyard.EINTERNAL, "requestId": id},
		}
	}
}

// isArgumentError reports whether the error being presented came from decoding
// the current field's arguments (a Decimal or DateTime that does not parse):
// gqlgen reports those before the resolver runs, so the field's Args are still
// unset. Any other wrapped error came from a resolver or the executor.
func isArgumentError(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Args == nil && len(fc.Field.Arguments) > 0
}

// isBadRepresentation reports an _entities representation that names no
// entity type or lacks its key: the caller's mistake, not ours.
func isBadRepresentation(err error) bool {
	return errors.Is(err, graph.ErrUnknownType) || errors.Is(err, graph.ErrTypeNotFound)
}

// panicError carries a recovered panic to the error presenter, which logs it
// once with its stack.
type panicError struct {
	value any
	stack string
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

func recoverPanic(ctx context.Context, v any) error {
	return &panicError{value: v, stack: string(debug.Stack())}
}

// writeError writes a GraphQL-shaped error for a request refused before
// GraphQL runs, so clients parse every failure the same way.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeErrorExt(w, status, message, map[string]any{"code": code})
}

func writeErrorExt(w http.ResponseWriter, status int, message string, ext map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	type entry struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	_ = json.NewEncoder(w).Encode(struct {
		Errors []entry `json:"errors"`
	}{[]entry{{message, ext}}})
}

// writeInternal logs err with the request id and answers 500 with only the id.
func writeInternal(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	id := RequestIDFromContext(r.Context())
	log.ErrorContext(r.Context(), "http: internal error", "request_id", id, "method", r.Method, "path", r.URL.Path, "error", err.Error())
	writeErrorExt(w, http.StatusInternalServerError, internalMessage, map[string]any{"code": switchyard.EINTERNAL, "requestId": id})
}
