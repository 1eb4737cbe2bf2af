package main

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// redisPinger lets /readyz report on Redis. It lives here, not in server, so
// the server does not depend on a Redis client it does not otherwise use.
type redisPinger struct{ client *redis.Client }

func newRedisPinger(url string) (*redisPinger, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return &redisPinger{client: redis.NewClient(opts)}, nil
}

func (p *redisPinger) Ping(ctx context.Context) error { return p.client.Ping(ctx).Err() }

func (p *redisPinger) Close() error { return p.client.Close() }
