package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchyard/switchyard"
)

// Claims are the claims of a Switchyard development token. Only sub is trusted
// for who the caller is: email and role are there for people reading the token,
// and the caller's role is read from the user's row on every request.
type Claims struct {
	Email string          `json:"email,omitempty"`
	Role  switchyard.Role `json:"role,omitempty"`
	jwt.RegisteredClaims
}

// MinSecretBytes is the shortest HS256 secret accepted in production.
const MinSecretBytes = 32

// IssueToken signs an HS256 token for user that expires after ttl.
func IssueToken(secret []byte, user *switchyard.User, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("issue token: empty secret")
	}
	if ttl <= 0 {
		return "", errors.New("issue token: ttl must be positive")
	}
	now := time.Now()
	claims := Claims{
		Email: user.Email,
		Role:  user.Role,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   user.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// authenticator turns a bearer credential into a caller: a user's JWT, or a
// partner's API key, told apart by the key's prefix (switchyard.APIKeyPrefix).
type authenticator struct {
	secret  []byte
	callers switchyard.CallerResolver
	// apiKeys resolves partner API keys; nil refuses them.
	apiKeys switchyard.APIKeyResolver
}

// errNoCredential means the request carries no credential: an anonymous caller.
var errNoCredential = errors.New("no credential")

// authenticate verifies an Authorization value ("Bearer <JWT>") and resolves
// its subject to the caller as of now, so a deleted user or a changed role
// applies on the next request rather than when the token expires. It returns
// an EUNAUTHENTICATED error for a bad credential, and the resolver's error
// (say, INTERNAL with the database down) otherwise.
func (a *authenticator) authenticate(ctx context.Context, authorization string) (*switchyard.Caller, error) {
	authorization = strings.TrimSpace(authorization)
	if authorization == "" {
		return nil, errNoCredential
	}
	scheme, raw, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, `the Authorization header must be "Bearer <token>"`)
	}
	if raw = strings.TrimSpace(raw); switchyard.IsAPIKey(raw) {
		return a.authenticateAPIKey(ctx, raw)
	}
	var claims Claims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) {
		return a.secret, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "token expired")
	case err != nil:
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "invalid token")
	case claims.Subject == "":
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "invalid token: no subject")
	}
	caller, err := a.callers.ResolveCaller(ctx, claims.Subject)
	if err != nil {
		return nil, err
	}
	if caller.ExpiresAt.IsZero() && claims.ExpiresAt != nil {
		c := *caller
		c.ExpiresAt = claims.ExpiresAt.Time
		caller = &c
	}
	return caller, nil
}

// authenticateAPIKey resolves a partner's API key as of now, so a revoked
// key or a paused integration is refused on the next request. The key is
// never logged or echoed.
func (a *authenticator) authenticateAPIKey(ctx context.Context, key string) (*switchyard.Caller, error) {
	if a.apiKeys == nil {
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "this server does not accept API keys")
	}
	return a.apiKeys.ResolveAPIKey(ctx, key)
}

// APIKeyHeader carries a partner's API key, for clients that cannot set
// Authorization; "Authorization: Bearer <key>" works as well.
const APIKeyHeader = "X-API-Key"

// requestCaller authenticates a request by its Authorization or X-API-Key
// header. Both at once is refused: which one wins would be a guess.
func (a *authenticator) requestCaller(r *http.Request) (*switchyard.Caller, error) {
	authorization := r.Header.Get("Authorization")
	key := strings.TrimSpace(r.Header.Get(APIKeyHeader))
	switch {
	case key == "":
		return a.authenticate(r.Context(), authorization)
	case strings.TrimSpace(authorization) != "":
		return nil, switchyard.Errorf(switchyard.EUNAUTHENTICATED, "send either an Authorization or an %s header, not both", APIKeyHeader)
	}
	return a.authenticateAPIKey(r.Context(), key)
}

// middleware authenticates HTTP requests. No Authorization or X-API-Key
// header is an anonymous caller; a bad or expired credential is refused with
// 401 before any GraphQL runs, so a client never mistakes a typo in its token
// for "no data".
func (a *authenticator) middleware(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, err := a.requestCaller(r)
			switch {
			case errors.Is(err, errNoCredential):
				next.ServeHTTP(w, r)
			case err == nil:
				next.ServeHTTP(w, r.WithContext(switchyard.NewContextWithCaller(r.Context(), caller)))
			case switchyard.ErrorCode(err) == switchyard.EUNAUTHENTICATED:
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, switchyard.EUNAUTHENTICATED, switchyard.ErrorMessage(err))
			default:
				writeInternal(w, r, log, fmt.Errorf("authenticate: %w", err))
			}
		})
	}
}
