package server

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchyard/switchyard"
)

// sseTransport is GraphQL over Server-Sent Events, the graphql-sse protocol's
// distinct connections mode (github.com/enisdenjo/graphql-sse, PROTOCOL.md):
// one operation per request, GET with the GraphQL-over-HTTP query parameters
// or POST with a JSON body, both with Accept: text/event-stream.
//
// Every result is a `next` event and the stream ends with `complete`; errors
// that prevent execution are a `next` event carrying them (the protocol asks
// for it: a 4xx would leave EventSource with nothing to show), and a
// subscription that ends with an error sends it as a `next` with errors, then
// `complete`. Beyond the protocol, for resumption:
//
//   - every event of a subscription carries `id: <cursor>`, the event's
//     switchyard.EventCursor (also in the payload's extensions.cursor);
//   - a Last-Event-ID request header resumes after that cursor: it is handed
//     to the resolvers through resolvers.WithStream and takes precedence over
//     the operation's `after` argument, so a browser's EventSource, which
//     reconnects on its own with the same URL and this header, continues
//     where it stopped without a gap or a duplicate;
//   - a `:` comment every heartbeat interval (15s) keeps proxies from
//     closing an idle stream.
//
// When the server shuts down the stream ends without `complete`, so clients
// treat it as a dropped connection and reconnect.
//
// It replaces gqlgen's transport.SSE, which sends no id: and ends every stream
// with complete.
type sseTransport struct {
	present   graphql.ErrorPresenterFunc
	heartbeat time.Duration
}

var _ graphql.Transport = sseTransport{}

func (sseTransport) Supports(r *http.Request) bool {
	if !acceptsEventStream(r) || r.Header.Get("Upgrade") != "" {
		return false
	}
	switch r.Method {
	case http.MethodGet:
		return true
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		return err == nil && mt == "application/json"
	}
	return false
}

func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	params, perr := sseParams(r)
	s := startSSE(w, t.heartbeat)
	defer s.close()
	if perr != nil {
		perr.Extensions = map[string]any{"code": switchyard.EINVALID}
		s.event("", "next", mustJSON(&graphql.Response{Errors: gqlerror.List{perr}}))
		s.event("", "complete", nil)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	op := operation{exec: exec, present: t.present}
	out, end := op.run(r.Context(), params, r.Header.Get("Last-Event-ID"), runHooks{
		refused: func(_ gqlerror.List, resp *graphql.Response) {
			s.event("", "next", mustJSON(resp))
		},
		check: func(rc *graphql.OperationContext) *gqlerror.Error {
			if r.Method == http.MethodGet && rc.Operation.Operation == ast.Mutation {
				e := gqlerror.Errorf("mutations are not allowed over GET; use POST")
				e.Extensions = map[string]any{"code": switchyard.EINVALID}
				return e
			}
			return nil
		},
		result: func(res result) bool {
			return s.event(res.cursor, "next", mustJSON(res.resp))
		},
	})
	switch out {
	case outcomeGone:
		return
	case outcomeFailed:
		s.event("", "next", mustJSON(&graphql.Response{Errors: gqlerror.List{end}}))
	}
	s.event("", "complete", nil)
}

// sseParams reads the operation from the query string (GET) or the JSON body
// (POST, already size-checked and shape-checked by limitBody).
func sseParams(r *http.Request) (*graphql.RawParams, *gqlerror.Error) {
	p := &graphql.RawParams{}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		p.Query, p.OperationName = q.Get("query"), q.Get("operationName")
		for name, dst := range map[string]*map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
			if v := q.Get(name); v != "" {
				if err := decodeJSON(bytes.NewReader([]byte(v)), dst); err != nil {
					return nil, gqlerror.Errorf("the %s parameter is not a JSON object", name)
				}
			}
		}
	} else if err := decodeJSON(r.Body, p); err != nil {
		return nil, gqlerror.Errorf("the request body is not a GraphQL request: %v", err)
	}
	return p, nil
}

func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec.Decode(v)
}
