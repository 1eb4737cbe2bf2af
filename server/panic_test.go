package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/resolvers"
)

// panickyUsers panics where a bug would.
type panickyUsers struct{ switchyard.UserService }

func (panickyUsers) FindUserByID(context.Context, string) (*switchyard.User, error) {
	panic("boom: a bug in a resolver")
}

func TestPanicIsInternalWithRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withResolver(func(r *resolvers.Resolver) { r.Users = panickyUsers{r.Users} }))
	w := e.world()
	r := e.gql(e.token(w.alice), `query($id: ID!) { user(id: $id) { id } me { name } }`, map[string]any{"id": w.bob.ID})
	if r.code() != switchyard.EINTERNAL || r.Errors[0].Message != "internal error" || strings.Contains(r.Raw, "boom") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	id, _ := r.Errors[0].Extensions["requestId"].(string)
	if id == "" || id != r.Header.Get("X-Request-ID") {
		t.Fatalf("requestId %q, header %q", id, r.Header.Get("X-Request-ID"))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, id) || !strings.Contains(logs, "boom") || !strings.Contains(logs, "goroutine") {
		t.Fatalf("the panic and its stack should be logged with the request id:\n%s", logs)
	}
	// The process, and the rest of the server, keep going.
	if r := e.gql(e.token(w.alice), `{ projects { totalCount } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("after the panic: %s", r.Raw)
	}
}
