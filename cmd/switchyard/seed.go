package main

import (
	"context"
	"errors"
	"io"
)

// Placeholder until the seed helper lands the real command in this file.
func seedCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	return errors.New("seed is being built")
}
