package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/search"
)

const reindexSynopsis = `reindex [--types order,user,project,integration] [--restart]

Rebuilds the search index from PostgreSQL, with a progress bar.

Without --types every type is rebuilt into a new index beside the live one,
which keeps answering searches; the new one is swapped in only when it is
complete and has caught up with the changes made meanwhile. With --types the
listed types are re-indexed in place in the live index.

Ctrl-C stops it; run it again to resume where it stopped (--restart starts
over instead). The embedded index can be open in one process at a time: stop
'switchyard serve' first, or leave it to serve, which rebuilds by itself when
its index misses rows (after 'switchyard seed') or was never built.`

func reindexCommand(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	typesFlag := fs.String("types", "", "comma-separated `types` to re-index in place: order, user, project, integration (default: rebuild everything)")
	restart := fs.Bool("restart", false, "discard an interrupted rebuild and start over")
	if help, err := parseFlags(fs, args, reindexSynopsis, stdout, stderr); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "switchyard reindex: unexpected argument %q\n", fs.Arg(0))
		return usageError{"bad reindex arguments"}
	}
	types, err := parseSearchTypes(*typesFlag)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard reindex: %v\n", err)
		return usageError{err.Error()}
	}

	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	backend, err := searchBackendFor(cfg)
	if err != nil {
		return err
	}
	idx, err := backend.open()
	if err != nil {
		if switchyard.ErrorCode(err) == switchyard.ESEARCHUNAVAILABLE && cfg.ElasticsearchURL == "" {
			return fmt.Errorf("%w\nIs 'switchyard serve' running? Stop it first: the embedded index is open in one process at a time (serve rebuilds by itself when the index misses rows)", err)
		}
		return fmt.Errorf("search: %s: %w", backend.Describe, err)
	}
	defer idx.Close()

	bar := newProgressBar(stderr)
	fmt.Fprintf(stderr, "reindexing into the %s\n", backend.Describe)
	res, err := search.Rebuild(ctx, idx, postgres.NewSearchSource(db), postgres.NewEventLog(db), postgres.NewConsumerCursors(db), search.RebuildOptions{
		Types:    types,
		Cursor:   backend.Cursor,
		Restart:  *restart,
		Progress: bar.update,
	})
	bar.finish()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "interrupted at %d of %d documents; run 'switchyard reindex%s' again to resume\n",
				bar.last.Done, bar.last.Total, typesSuffix(*typesFlag))
			return usageError{"interrupted"}
		}
		return err
	}
	how := "rebuilt and swapped in"
	if res.InPlace {
		how = "re-indexed in place"
	}
	resumed := ""
	if res.Resumed {
		resumed = ", resuming an interrupted run"
	}
	fmt.Fprintf(stdout, "%d documents %s in %s%s\n", res.Documents, how, res.Elapsed.Round(100*time.Millisecond), resumed)
	return nil
}

func typesSuffix(flag string) string {
	if flag == "" {
		return ""
	}
	return " --types " + flag
}

// parseSearchTypes reads "order,user" (any case, singular or plural).
func parseSearchTypes(s string) ([]switchyard.SearchType, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []switchyard.SearchType
	for _, part := range strings.Split(s, ",") {
		name := strings.ToUpper(strings.TrimSpace(part))
		t := switchyard.SearchType(strings.TrimSuffix(name, "S"))
		if !t.Valid() {
			return nil, fmt.Errorf("--types: unknown type %q; use order, user, project or integration", strings.TrimSpace(part))
		}
		out = append(out, t)
	}
	return out, nil
}

// progressBar draws rebuild progress: on a terminal one line redrawn in
// place; otherwise (a log, CI) a line every few seconds.
type progressBar struct {
	w       io.Writer
	tty     bool
	every   time.Duration
	drawn   time.Time
	last    search.RebuildProgress
	started bool
	dirty   bool
}

func newProgressBar(w io.Writer) *progressBar {
	b := &progressBar{w: w, every: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty, b.every = true, 100*time.Millisecond
		}
	}
	return b
}

func (b *progressBar) update(p search.RebuildProgress) {
	b.last = p
	b.dirty = true
	if !b.started || p.Phase != "scan" || time.Since(b.drawn) >= b.every {
		b.started = true
		b.draw()
	}
}

func (b *progressBar) draw() {
	b.drawn = time.Now()
	b.dirty = false
	line := progressLine(b.last)
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(b.w, line)
}

func (b *progressBar) finish() {
	if b.dirty {
		b.draw()
	}
	if b.tty && b.started {
		fmt.Fprintln(b.w)
	}
}

// progressLine: "[#######.....] 61% 125,000/205,013 orders 9,800/s 0:08 left".
func progressLine(p search.RebuildProgress) string {
	const width = 24
	frac := 0.0
	if p.Total > 0 {
		frac = min(float64(p.Done)/float64(p.Total), 1)
	}
	filled := int(frac * width)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	var what string
	switch p.Phase {
	case "scan":
		what = "documents"
		if p.Type != "" {
			what = strings.ToLower(string(p.Type)) + "s"
		}
	case "catch-up":
		what = fmt.Sprintf("documents, catching up (%d events)", p.Events)
	case "swap":
		what = "documents, swapping in"
	case "done":
		what = "documents, done"
	}
	line := fmt.Sprintf("[%s] %3.0f%% %s/%s %s", bar, frac*100, withCommas(p.Done), withCommas(p.Total), what)
	doneHere := p.Done - p.ResumedFrom
	// The rate needs half a second of work to mean anything while running;
	// the last line always has it, as the run's summary.
	if secs := p.Elapsed.Seconds(); (secs > 0.5 || (p.Phase == "done" && secs > 0)) && doneHere > 0 {
		rate := float64(doneHere) / secs
		line += fmt.Sprintf("  %s/s", withCommas(int(rate)))
		if p.Phase == "scan" && p.Total > p.Done {
			left := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second))
			line += "  " + clock(left) + " left"
		}
	}
	return line
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
