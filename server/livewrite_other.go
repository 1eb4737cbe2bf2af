//go:build !unix

package server

import "syscall"

func tryWrite(syscall.RawConn, []byte) (int, error) { return 0, nil }

// rawConnOf: no non-blocking writes here; deliveries go the blocking way.
func rawConnOf(any) syscall.RawConn { return nil }
