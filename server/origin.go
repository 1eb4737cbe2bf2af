package server

import (
	"net/http"
	"net/url"
	"strings"
)

// DefaultAllowedOrigins are the browser origins that may open websockets when
// Config.AllowedOrigins is nil, besides the server's own host: local
// development servers (a Vite dev server proxies or calls from another port).
var DefaultAllowedOrigins = []string{
	"http://localhost:*", "https://localhost:*",
	"http://127.0.0.1:*", "https://127.0.0.1:*",
	"http://[::1]:*", "https://[::1]:*",
}

// originPolicy decides which browser origins may open websockets. Browsers
// send Origin on every websocket upgrade and CORS does not apply to
// websockets, so this check is what stops another site's page from using a
// visitor's connection; programs send no Origin and are not browsers.
type originPolicy struct {
	any      bool
	patterns []originPattern
}

// originPattern is scheme://host with an optional ":*" for any port.
type originPattern struct {
	scheme, host, port string // port "*" matches any, "" only the default
}

// newOriginPolicy accepts entries like "https://app.example.com",
// "http://localhost:5173", "http://localhost:*", or "*" for any origin.
// Malformed entries never match.
func newOriginPolicy(allowed []string) originPolicy {
	if allowed == nil {
		allowed = DefaultAllowedOrigins
	}
	var p originPolicy
	for _, a := range allowed {
		a = strings.TrimSpace(a)
		if a == "*" {
			p.any = true
			continue
		}
		anyPort := strings.HasSuffix(a, ":*")
		u, err := url.Parse(strings.TrimSuffix(a, ":*"))
		if err != nil || u.Scheme == "" || u.Host == "" {
			continue
		}
		pat := originPattern{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
		if anyPort {
			pat.port = "*"
		}
		p.patterns = append(p.patterns, pat)
	}
	return p
}

func (p originPolicy) allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || p.any {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true // same origin
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	for _, pat := range p.patterns {
		if pat.scheme == scheme && pat.host == host && (pat.port == "*" || pat.port == port) {
			return true
		}
	}
	return false
}

// ParseAllowedOrigins splits a comma-separated list (SWITCHYARD_ALLOWED_ORIGINS);
// an empty value means the defaults (nil).
func ParseAllowedOrigins(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
