// Package server is everything net/http in Switchyard: the GraphQL endpoint
// with its transports (POST, GET, WebSocket, SSE), authentication, limits,
// error presentation, health and readiness, the playground and the web app.
//
// Use:
//
//	srv, err := server.New(cfg, deps)
//	httpServer := &http.Server{Handler: srv}
//	httpServer.RegisterOnShutdown(srv.CloseStreams)
//
// http.Server.Shutdown drains ordinary requests but never touches hijacked
// websockets or long SSE responses; CloseStreams ends those.
package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/graph"
	"github.com/switchyard/switchyard/resolvers"
)

// Config tunes the server. Zero values take the defaults noted.
type Config struct {
	// JWTSecret verifies HS256 bearer tokens. Required.
	JWTSecret []byte
	// Logger receives internal errors and the access log; default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body; default 1 MiB.
	MaxBodyBytes int64
	// ComplexityLimit bounds an operation's cost, where a connection costs its
	// children times its page size; default 10000.
	ComplexityLimit int
	// DepthLimit bounds how deeply an operation nests fields; default 12.
	DepthLimit int
	// QueryCacheSize is how many parsed documents are kept; default 1000.
	QueryCacheSize int
	// APQCacheSize is how many automatic persisted queries are kept; default 1000.
	APQCacheSize int
	// AllowedOrigins are browser origins, besides the server's own, that may
	// open websockets: "https://app.example.com", "http://localhost:*" (any
	// port), or "*" for any. Nil means DefaultAllowedOrigins (local
	// development servers).
	AllowedOrigins []string
	// KeepAlive is the interval of websocket pings (and the legacy
	// protocol's "ka" messages); default 10s.
	KeepAlive time.Duration
	// PongWait is how long after a ping a websocket peer may stay silent
	// before it counts as dead and is dropped; default KeepAlive.
	PongWait time.Duration
	// InitTimeout is how long a websocket may wait before connection_init;
	// default 10s.
	InitTimeout time.Duration
	// WebsocketReadLimit bounds one websocket message; default MaxBodyBytes.
	WebsocketReadLimit int64
	// MaxOperationsPerConnection bounds the operations (subscriptions, in
	// practice) one websocket runs at once; default 100.
	MaxOperationsPerConnection int
	// SSEHeartbeat is the interval of the comment sent on idle event
	// streams (GraphQL over SSE and /events); default 15s.
	SSEHeartbeat time.Duration
	// ReadyTimeout bounds /readyz's pings; default 2s.
	ReadyTimeout time.Duration
}

// Deps are what the server serves.
type Deps struct {
	// Resolver answers GraphQL; its Events and Tickets also serve /events.
	Resolver *resolvers.Resolver
	// Callers turns a token's subject into the current caller.
	Callers switchyard.CallerResolver
	// APIKeys turns a partner's API key into its caller; nil refuses API
	// keys.
	APIKeys switchyard.APIKeyResolver
	// Checks are the dependencies /readyz reports on.
	Checks []Check
	// Web is the built web app (index.html at its root); nil serves a small
	// page that links to the playground.
	Web fs.FS
	// Webhooks receives POST /webhooks/{integrationId}; nil serves no
	// webhooks.
	Webhooks switchyard.WebhookReceiver
}

// Server is Switchyard's HTTP handler.
type Server struct {
	handler     http.Handler
	streams     context.Context
	stopStreams context.CancelFunc
}

// New builds the handler. It fails only on a configuration that cannot work.
func New(cfg Config, deps Deps) (*Server, error) {
	if len(cfg.JWTSecret) == 0 {
		return nil, errors.New("server: JWTSecret is required")
	}
	if deps.Resolver == nil || deps.Callers == nil {
		return nil, errors.New("server: Resolver and Callers are required")
	}
	cfg.defaults()
	log := cfg.Logger
	auth := &authenticator{secret: cfg.JWTSecret, callers: deps.Callers, apiKeys: deps.APIKeys}

	s := &Server{}
	s.streams, s.stopStreams = context.WithCancel(context.Background())

	present := presentError(log)
	gql := newGraphQL(cfg, deps.Resolver, auth, present)
	var graphqlEndpoint http.Handler = gql
	graphqlEndpoint = s.endWithStreams(graphqlEndpoint)
	graphqlEndpoint = auth.middleware(log)(graphqlEndpoint)
	graphqlEndpoint = limitBody(cfg.MaxBodyBytes)(graphqlEndpoint)

	mux := http.NewServeMux()
	mux.Handle("/graphql", graphqlEndpoint)
	if deps.Resolver.Events != nil {
		path := deps.Resolver.EventsPath
		if path == "" {
			path = resolvers.DefaultEventsPath
		}
		var events http.Handler = &eventsHandler{
			events: deps.Resolver.Events, tickets: deps.Resolver.Tickets, callers: deps.Callers,
			log: log, present: present, heartbeat: cfg.SSEHeartbeat,
		}
		events = s.stream(events)
		events = auth.middleware(log)(events)
		mux.Handle("GET "+path, events)
	}
	if deps.Webhooks != nil {
		mux.Handle("POST /webhooks/{integrationId}", &webhooksHandler{receiver: deps.Webhooks, log: log})
		mux.HandleFunc("/webhooks/{integrationId}", webhooksMethodNotAllowed)
	}
	mux.Handle("GET /playground", playground.Handler("Switchyard", "/graphql",
		playground.WithGraphiqlEnablePluginExplorer(true),
		playground.WithStoragePrefix("switchyard"),
	))
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /readyz", readyz(deps.Checks, cfg.ReadyTimeout))
	mux.Handle("/", webApp(deps.Web))

	s.handler = requestID(accessLog(log)(recoverHTTP(log)(mux)))
	return s, nil
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.ComplexityLimit <= 0 {
		c.ComplexityLimit = 10_000
	}
	if c.DepthLimit <= 0 {
		c.DepthLimit = 12
	}
	if c.QueryCacheSize <= 0 {
		c.QueryCacheSize = 1000
	}
	if c.APQCacheSize <= 0 {
		c.APQCacheSize = 1000
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 10 * time.Second
	}
	if c.PongWait <= 0 {
		c.PongWait = c.KeepAlive
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = defaultInitTimeout
	}
	if c.WebsocketReadLimit <= 0 {
		c.WebsocketReadLimit = c.MaxBodyBytes
	}
	if c.MaxOperationsPerConnection <= 0 {
		c.MaxOperationsPerConnection = defaultMaxOperations
	}
	if c.SSEHeartbeat <= 0 {
		c.SSEHeartbeat = 15 * time.Second
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 2 * time.Second
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// CloseStreams ends every open websocket and SSE stream; pass it to
// http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() { s.stopStreams() }

// endWithStreams ties long-lived requests (websocket upgrades, SSE) to the
// server's stream context, so CloseStreams ends them.
func (s *Server) endWithStreams(next http.Handler) http.Handler {
	streaming := s.stream(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" && !acceptsEventStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		streaming.ServeHTTP(w, r)
	})
}

// stream ties every request of next to the server's stream context.
func (s *Server) stream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.streams, cancel)
		defer stop()
		ctx = context.WithValue(ctx, streamsKey{}, s.streams)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// streamsKey carries the server's stream context to transports that outlive
// their request's handler (websockets).
type streamsKey struct{}

// newGraphQL configures gqlgen explicitly; NewDefaultServer is for examples.
// The streaming transports are Switchyard's own (websocket.go, sse.go): they
// carry each event's cursor and end subscriptions with the protocols' exact
// errors and close codes.
func newGraphQL(cfg Config, res *resolvers.Resolver, auth *authenticator, present graphql.ErrorPresenterFunc) *handler.Server {
	srv := handler.New(graph.NewExecutableSchema(graph.Config{
		Resolvers:  res,
		Complexity: complexity(),
	}))

	// One cache of live results for both streaming transports: the same
	// operation over WebSocket and SSE gives the same payload.
	results := &sharedResults{}
	srv.AddTransport(newWSTransport(cfg, auth, present, results))
	srv.AddTransport(transport.Options{})
	// SSE before GET and POST: an SSE request is one of those too, told apart
	// by its Accept.
	srv.AddTransport(sseTransport{present: present, heartbeat: cfg.SSEHeartbeat, log: cfg.Logger, results: results})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](cfg.QueryCacheSize))
	// Introspection stays on: the playground needs it, and so does
	// federation's _service { sdl }.
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](cfg.APQCacheSize)})
	// Depth first: it is the cheaper check and the clearer message.
	srv.Use(depthLimit{max: cfg.DepthLimit})
	srv.Use(extension.FixedComplexityLimit(cfg.ComplexityLimit))

	srv.AroundFields(noteCallerDependence)
	srv.SetErrorPresenter(present)
	srv.SetRecoverFunc(recoverPanic)

	// Loaders are per response, not per HTTP request: a websocket carries
	// many operations, and a subscription many events, and each must read
	// with fresh caches (see resolvers.(*Resolver).WithLoaders).
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		return next(res.WithLoaders(ctx))
	})
	return srv
}
