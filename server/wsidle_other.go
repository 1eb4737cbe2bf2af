//go:build !unix

package server

import "net"

// waitReadable leaves the waiting to gorilla where sockets cannot be peeked.
func waitReadable(net.Conn) error { return nil }
