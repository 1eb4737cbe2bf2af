//go:build !linux

package main

import "fmt"

// newReaders: without epoll, a goroutine per connection.
func newReaders(kind string) (readers, error) {
	switch kind {
	case "goroutines", "epoll", "":
		return goroutineReaders{}, nil
	}
	return nil, fmt.Errorf("--reader %q: want epoll or goroutines", kind)
}
