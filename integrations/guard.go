package integrations

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// The SSRF guard. Endpoint URLs are checked when they are saved
// (switchyard.ValidateEndpointURL), but a name can resolve to anything, and
// to something else by the time we connect (DNS rebinding). So the check
// that counts runs at dial time, on the address actually dialled: the
// dialer's Control hook sees each resolved IP before the socket connects.

// blockedPrefixes are ranges with no business receiving webhooks beyond
// what net.IP's predicates cover: "this network", carrier-grade NAT (where
// some clouds put metadata services), IETF protocol assignments, benchmarking
// and the reserved class E.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// blockedAddr reports whether an endpoint must not be reached at ip:
// loopback, private, link-local, unspecified, multicast, or one of
// blockedPrefixes. IPv4-mapped IPv6 addresses are judged as IPv4.
func blockedAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || !ip.IsValid() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// blockedAddressError is a dial refused by the guard.
type blockedAddressError struct{ addr string }

func (e *blockedAddressError) Error() string {
	return fmt.Sprintf("refused to connect to %s: a loopback, private, link-local or otherwise internal address (set SWITCHYARD_WEBHOOK_ALLOW_PRIVATE=true to allow)", e.addr)
}

// guardControl is the net.Dialer Control hook: it refuses internal
// addresses unless allowPrivate.
func guardControl(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return &blockedAddressError{addr: address}
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || blockedAddr(ip) {
			return &blockedAddressError{addr: host}
		}
		return nil
	}
}
