// Command switchyard runs the Switchyard GraphQL server and its chores:
// serve, migrate, seed and token. Configuration comes from the environment;
// `switchyard --help` lists the subcommands and variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default so a second Ctrl-C kills a
	// shutdown that hangs.
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var u usageError
		if !errors.As(err, &u) {
			fmt.Fprintln(os.Stderr, "switchyard:", err)
		}
		os.Exit(1)
	}
}

// usageError is a command-line mistake whose explanation was already printed.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "serve the GraphQL API, the playground and the web app", serveCommand},
		{"migrate", "apply database migrations (up) or list them (status)", migrateCommand},
		{"seed", "load demo data (idempotent); --scale N for N times more", func(ctx context.Context, cfg config, args []string, stdout, _ io.Writer) error {
			return seedCommand(ctx, cfg, args, stdout)
		}},
		{"token", "print a development JWT for a user: token --email E [--ttl 24h]", tokenCommand},
		{"reindex", "rebuild the search index from the database (resumable); --types to re-index some types", reindexCommand},
	}
}

// run is main without the process: it parses args, reads the configuration
// from the environment and runs one subcommand until it ends or ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return usageError{"no command"}
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		if wantsHelp(args[1:]) {
			// Help never needs a valid configuration.
			return c.run(ctx, config{}, args[1:], stdout, stderr)
		}
		cfg, err := loadConfig(os.Getenv)
		if err != nil {
			return err
		}
		return c.run(ctx, cfg, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "switchyard: unknown command %q\n\n", name)
	usage(stderr)
	return usageError{"unknown command " + name}
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		switch a {
		case "-h", "-help", "--help", "help":
			return true
		}
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: switchyard <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `switchyard <command> --help` for a command's flags.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, envHelp)
}

// parseFlags parses a subcommand's flags. --help prints the usage to stdout
// and ends the command successfully; a mistake prints it to stderr.
func parseFlags(fs *flag.FlagSet, args []string, synopsis string, stdout, stderr io.Writer) (help bool, err error) {
	fs.SetOutput(io.Discard)
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: switchyard %s\n", synopsis)
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if b.Len() > 0 {
			fmt.Fprintf(w, "\nFlags:\n%s", b.String())
		}
	}
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return true, nil
	}
	if err != nil {
		fmt.Fprintf(stderr, "switchyard %s: %v\n", fs.Name(), err)
		printUsage(stderr)
		return false, usageError{err.Error()}
	}
	return false, nil
}
