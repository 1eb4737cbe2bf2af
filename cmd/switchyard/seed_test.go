package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/postgres/postgrestest"
)

func TestSeedCommand(t *testing.T) {
	t.Parallel()
	cfg := config{DatabaseURL: postgrestest.NewDatabaseURL(t), Addr: ":8080"}
	ctx := context.Background()

	runs := []struct {
		name string
		args []string
		want []string
	}{
		{"first run seeds and prints the logins", nil, []string{
			"Seeded 50 users, 3 projects", "2,000 orders",
			"admin@example.com", "alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com",
			"switchyard token --email alice@example.com", "http://localhost:8080/playground",
		}},
		{"second run changes nothing and says so", nil, []string{"already there; nothing changed", "alice@example.com"}},
		{"a smaller scale changes nothing", []string{"--scale", "1"}, []string{"nothing changed"}},
		{"a larger scale tops up", []string{"--scale", "2"}, []string{"Topped up from scale 1 to 2", "2,000 orders", "4,000 orders"}},
		{"help explains top-ups", []string{"--help"}, []string{"Usage: switchyard seed [--scale N]", "tops up", "-scale N"}},
	}
	for _, r := range runs {
		var out bytes.Buffer
		if err := seedCommand(ctx, cfg, r.args, &out); err != nil {
			t.Fatalf("%s: %v\n%s", r.name, err, out.String())
		}
		for _, w := range r.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", r.name, w, out.String())
			}
		}
	}
}

func TestSeedCommandRefusesBadScale(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--scale", "0"}, {"--scale", "x"}, {"extra"}} {
		var out bytes.Buffer
		if err := seedCommand(context.Background(), config{DatabaseURL: "postgres://unused"}, args, &out); err == nil {
			t.Errorf("seed %v: no error", args)
		}
	}
}

func TestWithCommas(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 200000: "200,000", 1470059: "1,470,059", -12345: "-12,345"} {
		if got := withCommas(n); got != want {
			t.Errorf("withCommas(%d) = %q, want %q", n, got, want)
		}
	}
}
