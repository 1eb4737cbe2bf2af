package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/switchyard/switchyard/migrations"
	"github.com/switchyard/switchyard/postgres"
)

const seedSynopsis = `seed [--scale N]

Loads a deterministic demo data set and prints the demo logins. Scale 1 is
3 projects (Northwind Outfitters, Acme Hardware, Blue Harbor Coffee), 50 users
(admin@example.com; the owners alice@, bob@ and carol@example.com; members;
customers) and 2,000 orders from the last 12 months in USD, EUR, GBP and JPY,
with items, status histories and shipments. --scale N writes N times the users
and orders, and a project more per 10, for benchmarks: 200,000 orders at 100.

Idempotent: a second run finds the data and changes nothing. A larger --scale
after a smaller one tops up: it adds only the missing users, projects and
orders, the same rows a fresh run at that scale writes (their order numbers
follow any orders created since). A smaller --scale than the database holds
changes nothing. A run is one transaction: Ctrl-C leaves nothing behind.

Dates are relative to the first run; later runs keep them. Seeded rows write
no events: subscribers and webhooks are for live changes, and the search index
rebuilds from the tables. Run 'switchyard migrate up' first.`

func seedCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	scale := fs.Int("scale", 1, "`N` times the demo data (orders and users); at least 1")
	if help, err := parseFlags(fs, args, seedSynopsis, stdout, os.Stderr); help || err != nil {
		return err
	}
	if fs.NArg() > 0 || *scale < 1 {
		fmt.Fprintln(os.Stderr, "Usage: switchyard seed [--scale N] (N at least 1)")
		return usageError{"bad seed arguments"}
	}

	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := seedRequireMigrated(ctx, db); err != nil {
		return err
	}

	header := false
	progress := func(p postgres.SeedProgress) {
		// A scale-1 load takes a second; only long runs report progress.
		if p.TotalOrders < 20_000 {
			return
		}
		if !header {
			fmt.Fprintf(stdout, "Seeding %s orders (scale %d) in one transaction...\n", withCommas(p.TotalOrders), *scale)
			header = true
		}
		rate := float64(p.Rows) / max(p.Elapsed.Seconds(), 0.001)
		fmt.Fprintf(stdout, "  %3d%%  %9s orders  %11s rows  %8s rows/s  %6s\n",
			100*p.Orders/p.TotalOrders, withCommas(p.Orders), withCommas(p.Rows), withCommas(int(rate)), p.Elapsed.Round(100*time.Millisecond))
	}
	res, err := postgres.Seed(ctx, db, postgres.SeedOptions{Scale: *scale, Progress: progress})
	if err != nil {
		return err
	}

	t := res.Total
	switch {
	case res.Larger:
		fmt.Fprintf(stdout, "The database already holds demo data at a scale above %d; nothing changed.\n", *scale)
	case !res.Changed():
		fmt.Fprintf(stdout, "Demo data at scale %d is already there; nothing changed.\n", res.Scale)
	default:
		w := res.Written
		verb := "Seeded"
		if res.PreviousScale > 0 {
			verb = fmt.Sprintf("Topped up from scale %d to %d:", res.PreviousScale, res.Scale)
		}
		fmt.Fprintf(stdout, "%s %s users, %s projects, %s memberships, %s orders (%s items, %s status changes) in %s.\n",
			verb, withCommas(w.Users), withCommas(w.Projects), withCommas(w.Members), withCommas(w.Orders),
			withCommas(w.Items), withCommas(w.StatusChanges), res.Elapsed.Round(100*time.Millisecond))
	}
	fmt.Fprintf(stdout, "The database holds %s users, %s projects and %s orders; orders run up to %s.\n",
		withCommas(t.Users), withCommas(t.Projects), withCommas(t.Orders), res.Anchor.Format("2006-01-02 15:04 MST"))

	fmt.Fprintln(stdout, "\nDemo logins (no passwords: sign in with a development token):")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, l := range res.Logins {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", l.Email, l.Name, l.About)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	url := hintURL(cfg.Addr)
	fmt.Fprintf(stdout, "\nGet a token:  switchyard token --email alice@example.com\n")
	fmt.Fprintf(stdout, "Playground:   %s/playground  (Headers tab: {\"Authorization\": \"Bearer <token>\"})\n", url)
	return nil
}

// seedRequireMigrated turns "relation users does not exist" into the step the
// user skipped.
func seedRequireMigrated(ctx context.Context, db *postgres.DB) error {
	all, err := migrations.Status(ctx, db.Pool())
	if err != nil {
		return err
	}
	pending := 0
	for _, m := range all {
		if m.AppliedAt == nil {
			pending++
		}
	}
	if pending > 0 {
		return fmt.Errorf("the database has %d pending migration(s); run 'switchyard migrate up' first", pending)
	}
	return nil
}

// withCommas groups digits by thousands: 200000 → "200,000".
func withCommas(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
