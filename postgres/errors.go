package postgres

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchyard/switchyard"
)

// translate turns a driver error into the switchyard vocabulary. Errors that are
// already *switchyard.Error pass through; anything unexpected stays a plain
// error, which the server reports as INTERNAL with a request id.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var se *switchyard.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return switchyard.Errorf(switchyard.ENOTFOUND, "not found")
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return switchyard.Errorf(switchyard.ECONFLICT, "%s already exists", conflictSubject(pe))
		case "23503": // foreign_key_violation
			return switchyard.Errorf(switchyard.ENOTFOUND, "a referenced record does not exist")
		case "23514", "22003", "22001": // check_violation, numeric out of range, string too long
			return switchyard.Errorf(switchyard.EINVALID, "a value is out of range")
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return switchyard.Errorf(switchyard.ECONFLICT, "a concurrent change conflicted; retry")
		}
	}
	return err
}

func conflictSubject(pe *pgconn.PgError) string {
	switch pe.ConstraintName {
	case "users_email_key":
		return "a user with this email"
	case "orders_number_key":
		return "an order with this number"
	}
	return "the record"
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validID reports whether id can name a row. An id that cannot is answered like
// one that does not exist, without a round trip and without a driver error.
func validID(id string) bool { return uuidPattern.MatchString(id) }

// validIDs keeps the ids that can name a row.
func validIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if validID(id) {
			out = append(out, id)
		}
	}
	return out
}

// batchIDs returns the distinct ids that can name a row, lower-cased as
// PostgreSQL prints uuids, so a batch statement reads each parent once and its
// rows can be matched back to every spelling the caller asked with.
func batchIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range validIDs(ids) {
		id = strings.ToLower(id)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
