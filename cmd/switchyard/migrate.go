package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/switchyard/switchyard/migrations"
	"github.com/switchyard/switchyard/postgres"
)

func migrateCommand(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	if help, err := parseFlags(fs, args, "migrate up|status\n\n  up      apply every pending migration\n  status  list migrations and when each was applied", stdout, stderr); help || err != nil {
		return err
	}
	if fs.NArg() != 1 || (fs.Arg(0) != "up" && fs.Arg(0) != "status") {
		fmt.Fprintln(stderr, "Usage: switchyard migrate up|status")
		return usageError{"migrate needs up or status"}
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	if fs.Arg(0) == "up" {
		applied, err := migrations.Up(ctx, db.Pool())
		for _, m := range applied {
			fmt.Fprintf(stdout, "applied %04d_%s\n", m.Version, m.Name)
		}
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(stdout, "database is up to date")
		}
		return nil
	}

	all, err := migrations.Status(ctx, db.Pool())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
	pending := 0
	for _, m := range all {
		at := "pending"
		if m.AppliedAt != nil {
			at = m.AppliedAt.UTC().Format(time.RFC3339)
		} else {
			pending++
		}
		fmt.Fprintf(tw, "%04d\t%s\t%s\n", m.Version, m.Name, at)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d pending\n", pending)
	return nil
}
