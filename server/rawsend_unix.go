//go:build unix && !linux

package server

import (
	"syscall"
	"unsafe"
)

// rawSend writes b to the non-blocking socket fd.
func rawSend(fd uintptr, b []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), errno
}
