package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/postgres"
)

// newRedisClient connects to REDIS_URL lazily: go-redis dials on first use,
// so a Redis that is down at start shows in /readyz, not as a failed start.
func newRedisClient(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return redis.NewClient(opts), nil
}

// redisChannel names the pub/sub channel of the deployment whose database is
// db. Every instance over that database computes the same name, and
// deployments that share one Redis (staging and production, two teams'
// stacks) never hear each other: events carry no deployment of their own, and
// another deployment's seq numbers would be routed as this one's.
//
// The database is identified by its cluster's system identifier and its oid,
// so a copy restored elsewhere, or beside it, is another deployment.
func redisChannel(ctx context.Context, db *postgres.DB, log *slog.Logger) (string, error) {
	var id string
	err := db.Pool().QueryRow(ctx, `SELECT s.system_identifier::text || '/' || d.oid::text
		FROM pg_control_system() s, pg_database d WHERE d.datname = current_database()`).Scan(&id)
	if err != nil {
		// pg_control_system() may be revoked (some managed services): the
		// server's address stands in for the cluster.
		log.Warn("cannot read the database cluster's identifier; naming the Redis channel after the server address and database", "err", err)
		err = db.Pool().QueryRow(ctx, `SELECT coalesce(host(inet_server_addr()), 'local') || ':' || coalesce(inet_server_port(), 0)::text || '/' || d.oid::text
			FROM pg_database d WHERE d.datname = current_database()`).Scan(&id)
		if err != nil {
			return "", fmt.Errorf("identify the database for the Redis channel: %w", err)
		}
	}
	sum := sha256.Sum256([]byte(id))
	return "switchyard:events:" + hex.EncodeToString(sum[:8]), nil
}
