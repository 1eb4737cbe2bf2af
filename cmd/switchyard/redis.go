package main

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

// redisChannel is the pub/sub channel the instances of one deployment share.
// Fixed, so instances of different versions meet on it.
const redisChannel = "switchyard:events"

// newRedisClient connects to REDIS_URL lazily: go-redis dials on first use,
// so a Redis that is down at start shows in /readyz, not as a failed start.
func newRedisClient(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return redis.NewClient(opts), nil
}
