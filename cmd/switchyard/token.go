package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/server"
)

// tokenCommand prints a development token for the user with --email. Only the
// token goes to stdout, so TOKEN=$(switchyard token --email …) works; the
// hints go to stderr.
func tokenCommand(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	email := fs.String("email", "", "email of the user the token is for (required)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if help, err := parseFlags(fs, args, "token --email E [--ttl 24h]", stdout, stderr); help || err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "Usage: switchyard token --email E [--ttl 24h]")
		return usageError{"token needs --email"}
	}
	if *ttl <= 0 {
		return fmt.Errorf("--ttl must be positive, got %s", *ttl)
	}
	if cfg.DevJWTSecret {
		fmt.Fprint(stderr, devSecretWarning)
	}

	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	user, err := postgres.NewUserService(db).FindUserByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("find user %s: %w", *email, err)
	}
	token, err := server.IssueToken(cfg.JWTSecret, user, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)

	url := hintURL(cfg.Addr)
	fmt.Fprintf(stderr, "\nToken for %s (%s), valid for %s.\n\n", user.Email, user.Role, *ttl)
	fmt.Fprintf(stderr, "curl:\n  curl -s %s/graphql -H 'Content-Type: application/json' \\\n    -H 'Authorization: Bearer %s' \\\n    -d '{\"query\":\"{ me { id email role } }\"}'\n\n", url, token)
	fmt.Fprintf(stderr, "Playground (%s/playground), Headers tab:\n  {\"Authorization\": \"Bearer %s\"}\n", url, token)
	return nil
}
