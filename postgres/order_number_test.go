package postgres

import (
	"context"
	"testing"
)

// Past SO-999999 numbers grow a digit rather than being cut to six and
// colliding with an earlier order.
func TestOrderNumbersGrowPastSixDigits(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	if _, err := f.DB.Pool().Exec(context.Background(), "SELECT setval('order_number_seq', 999998)"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		got = append(got, f.newOrder(t).Number)
	}
	if got[0] != "SO-999999" || got[1] != "SO-1000000" {
		t.Fatalf("numbers = %v, want [SO-999999 SO-1000000]", got)
	}
}
