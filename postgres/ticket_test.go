package postgres

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

func TestEventStreamTickets(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	users := NewUserService(db)
	tickets := NewTicketService(db)
	ctx := context.Background()
	alice := mustCreateUser(t, users, "Alice", switchyard.RoleMember)
	session := time.Now().Add(time.Hour).Truncate(time.Second)
	aliceCtx := switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: alice.ID, Role: switchyard.RoleMember, ExpiresAt: session})

	t.Run("redeemed once, with its user, topics and session", func(t *testing.T) {
		tk, err := tickets.CreateEventStreamTicket(aliceCtx, []string{switchyard.TopicOrders, switchyard.TopicOrders})
		if err != nil {
			t.Fatal(err)
		}
		if until := time.Until(tk.ExpiresAt); until <= 0 || until > switchyard.EventStreamTicketTTL+5*time.Second {
			t.Errorf("expires in %v, want about %v", until, switchyard.EventStreamTicketTTL)
		}
		if !slices.Equal(tk.Topics, []string{switchyard.TopicOrders}) {
			t.Errorf("topics %v", tk.Topics)
		}
		g, err := tickets.RedeemEventStreamTicket(ctx, tk.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		if g.UserID != alice.ID || !slices.Equal(g.Topics, []string{switchyard.TopicOrders}) || !g.SessionExpiresAt.Equal(session) {
			t.Errorf("grant %+v", g)
		}
		_, err = tickets.RedeemEventStreamTicket(ctx, tk.Ticket)
		wantCode(t, err, switchyard.EUNAUTHENTICATED)
	})

	t.Run("no topics means all", func(t *testing.T) {
		tk, err := tickets.CreateEventStreamTicket(aliceCtx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tk.Topics, switchyard.EventTopics) {
			t.Errorf("topics %v", tk.Topics)
		}
	})

	t.Run("expired", func(t *testing.T) {
		tk, err := tickets.WithTicketTTL(-time.Second).CreateEventStreamTicket(aliceCtx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tickets.RedeemEventStreamTicket(ctx, tk.Ticket)
		wantCode(t, err, switchyard.EUNAUTHENTICATED)
	})

	t.Run("unknown and malformed", func(t *testing.T) {
		for _, bad := range []string{"", "nope", string(make([]byte, 500))} {
			_, err := tickets.RedeemEventStreamTicket(ctx, bad)
			wantCode(t, err, switchyard.EUNAUTHENTICATED)
		}
	})

	t.Run("refused", func(t *testing.T) {
		_, err := tickets.CreateEventStreamTicket(anonCtx(ctx), nil)
		wantCode(t, err, switchyard.EUNAUTHENTICATED)
		_, err = tickets.CreateEventStreamTicket(aliceCtx, []string{"users"})
		wantCode(t, err, switchyard.EINVALID)
	})

	t.Run("concurrent redeems: exactly one wins", func(t *testing.T) {
		tk, err := tickets.CreateEventStreamTicket(aliceCtx, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Two services over separate pools, like two instances.
		other := NewTicketService(newTestDBFrom(t, db))
		var wg sync.WaitGroup
		results := make([]error, 8)
		for i := range results {
			svc := tickets
			if i%2 == 1 {
				svc = other
			}
			wg.Go(func() { _, results[i] = svc.RedeemEventStreamTicket(ctx, tk.Ticket) })
		}
		wg.Wait()
		won := 0
		for _, err := range results {
			switch switchyard.ErrorCode(err) {
			case "":
				won++
			case switchyard.EUNAUTHENTICATED:
			default:
				t.Errorf("redeem: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d redeems succeeded, want 1", won)
		}
	})
}

// newTestDBFrom opens a second pool on db's database, closed when t ends.
func newTestDBFrom(t testing.TB, db *DB) *DB {
	t.Helper()
	other, err := Open(context.Background(), db.Pool().Config().ConnString())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(other.Close)
	return other
}
