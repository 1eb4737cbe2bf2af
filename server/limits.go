package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/graph"
)

// limitBody refuses bodies above max with 413 and malformed JSON bodies with
// 400, both GraphQL-shaped. gqlgen alone would answer an oversized body with a
// 200 and a malformed one by echoing the whole body back in the message.
func limitBody(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil {
				r.Body = http.NoBody
			}
			tooLarge := func() {
				writeError(w, http.StatusRequestEntityTooLarge, switchyard.EINVALID,
					fmt.Sprintf("request body is larger than the limit of %d bytes", max))
			}
			if r.ContentLength > max {
				tooLarge()
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					tooLarge()
					return
				}
				writeError(w, http.StatusBadRequest, switchyard.EINVALID, "could not read the request body")
				return
			}
			if r.Method == http.MethodPost && isJSON(r.Header.Get("Content-Type")) {
				if msg := checkGraphQLBody(body); msg != "" {
					writeError(w, http.StatusBadRequest, switchyard.EINVALID, msg)
					return
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
		})
	}
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// checkGraphQLBody decodes body the way gqlgen's POST transport will and
// returns a message for the client when it cannot be.
func checkGraphQLBody(body []byte) string {
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := dec.Decode(&params)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, io.EOF):
		return "the request body is empty; send a JSON object like {\"query\": \"{ me { id } }\"}"
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return fmt.Sprintf("the request body's %q has the wrong type: %s expected", typeErr.Field, typeErr.Type.Kind())
		}
		return "the request body must be a JSON object like {\"query\": \"{ me { id } }\"}"
	default:
		return "the request body is not valid JSON: " + err.Error()
	}
}

// depthLimit refuses operations nested deeper than max fields, before any
// resolver runs. Complexity alone would let a narrow but very deep query
// through. Introspection is not counted: GraphiQL's own schema query is
// deeper than any sensible data query.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                          { return "DepthLimit" }
func (depthLimit) Validate(schema graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if d.max <= 0 || oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Doc, oc.Operation.SelectionSet, 0, d.max); depth > d.max {
		err := gqlerror.Errorf("operation is nested more than %d levels deep; the limit is %d", d.max, d.max)
		err.Extensions = map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"}
		return err
	}
	return nil
}

// selectionDepth returns the depth of set, stopping once it passes max so a
// pathological document costs no more than the limit.
func selectionDepth(doc *ast.QueryDocument, set ast.SelectionSet, depth, max int) int {
	if depth > max {
		return depth
	}
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				continue
			}
			d = selectionDepth(doc, s.SelectionSet, depth+1, max)
		case *ast.InlineFragment:
			d = selectionDepth(doc, s.SelectionSet, depth, max)
		case *ast.FragmentSpread:
			if f := doc.Fragments.ForName(s.Name); f != nil {
				d = selectionDepth(doc, f.SelectionSet, depth, max)
			}
		}
		if d > deepest {
			deepest = d
		}
	}
	return deepest
}

// complexity makes a connection cost its children times the rows it may
// return, so `projects(first: 100) { orders(first: 100) { ... } }` is priced
// as the ten thousand orders it could load. Page sizes above the cap are
// priced at the cap: the service refuses them with a clearer error.
func complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	c.Query.Orders = func(child int, _ *switchyard.OrderFilter, first *int, _ *string, last *int, _ *string, _ *switchyard.OrderOrder) int {
		return perPage(child, first, last)
	}
	c.Query.Projects = func(child int, _ *switchyard.ProjectFilter, first *int, _ *string, last *int, _ *string, _ *switchyard.ProjectOrder) int {
		return perPage(child, first, last)
	}
	c.Query.Users = func(child int, _ *switchyard.UserFilter, first *int, _ *string, last *int, _ *string, _ *switchyard.UserOrder) int {
		return perPage(child, first, last)
	}
	c.Project.Orders = func(child int, first *int, _ *string, last *int, _ *string, _ *switchyard.OrderFilter, _ *switchyard.OrderOrder) int {
		return perPage(child, first, last)
	}
	c.Project.Members = func(child int, first *int, _ *string) int { return perPage(child, first, nil) }
	c.User.Orders = func(child int, first *int, _ *string, _ *switchyard.OrderFilter) int {
		return perPage(child, first, nil)
	}
	c.User.Projects = func(child int, first *int, _ *string) int { return perPage(child, first, nil) }
	c.Query.Integrations = func(child int, _ *string, first *int, _ *string) int { return perPage(child, first, nil) }
	c.Project.Integrations = func(child int, first *int, _ *string) int { return perPage(child, first, nil) }
	c.Integration.Deliveries = func(child int, first *int, _ *string, _ []switchyard.DeliveryStatus, _ *switchyard.DeliveryDirection) int {
		return perPage(child, first, nil)
	}
	return c
}

func perPage(child int, first, last *int) int {
	n := switchyard.DefaultPageSize
	switch {
	case first != nil:
		n = *first
	case last != nil:
		n = *last
	}
	n = min(max(n, 1), switchyard.MaxPageSize)
	return 1 + child*n
}
