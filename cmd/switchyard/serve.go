package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/migrations"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/realtime"
	"github.com/switchyard/switchyard/resolvers"
	"github.com/switchyard/switchyard/server"
)

// shutdownTimeout is how long in-flight requests get to finish after a signal.
const shutdownTimeout = 15 * time.Second

func serveCommand(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", cfg.Addr, "listen address (overrides SWITCHYARD_ADDR)")
	migrate := fs.Bool("migrate", false, "apply pending migrations before serving")
	if help, err := parseFlags(fs, args, "serve [--addr :8080] [--migrate]", stdout, stderr); help || err != nil {
		return err
	}

	log := newLogger(cfg, stderr)
	if cfg.DevJWTSecret {
		fmt.Fprint(stderr, devSecretWarning)
	}
	if cfg.SecretKeyBytes == nil {
		fmt.Fprint(stderr, devSecretKeyWarning)
	}

	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if *migrate {
		applied, err := migrations.Up(ctx, db.Pool())
		if err != nil {
			return err
		}
		log.Info("migrations applied", "count", len(applied))
	}

	checks := []server.Check{{Name: "postgres", Pinger: db}}
	// Live updates: the relay publishes committed events through the broker
	// (Redis across instances, in-process for one) and the hub delivers
	// them to this instance's subscribers.
	var broker switchyard.Broker
	if cfg.RedisURL != "" {
		channel, err := redisChannel(ctx, db, log)
		if err != nil {
			return err
		}
		client, err := newRedisClient(cfg.RedisURL)
		if err != nil {
			return err
		}
		defer client.Close()
		log.Info("live updates through Redis", "channel", channel)
		rb := realtime.NewRedisBroker(client, channel)
		broker = rb
		checks = append(checks, server.Check{Name: "redis", Pinger: rb})
	} else {
		broker = realtime.NewMemoryBroker()
		log.Info("REDIS_URL is not set: live updates reach this instance's subscribers only")
	}
	users := postgres.NewUserService(db)
	hub := realtime.NewHub(postgres.NewEventLog(db), users, realtime.HubOptions{Logger: log})
	relay := postgres.NewRelay(db, broker, log)
	// They outlive the HTTP server's shutdown (streams close first, so
	// clients reconnect elsewhere) and stop before the connections they use
	// are closed by the defers above.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var bgDone sync.WaitGroup
	bgDone.Go(func() {
		if err := relay.Run(bg); err != nil {
			log.Error("relay stopped", "err", err)
		}
	})
	bgDone.Go(func() {
		if err := hub.Run(bg, broker); err != nil {
			log.Error("event hub stopped", "err", err)
		}
	})
	defer func() {
		stopBG()
		bgDone.Wait()
	}()

	integrations, err := postgres.NewIntegrationService(db, cfg.integrationOptions())
	if err != nil {
		return err
	}
	// Webhooks: the receiver behind /webhooks/{id}, and the outbound worker,
	// which runs beside the relay and sends while it leads the cluster.
	hooks := newWebhooks(cfg, db, integrations, log)
	bgDone.Go(func() { hooks.run(bg, log) })

	// Search: the index (embedded, or Elasticsearch) and the indexer that
	// follows the event log into it. Its readiness check is optional: with
	// search down the rest of the API keeps serving.
	searchSvc, err := newSearchService(cfg, db, log)
	if err != nil {
		return err
	}
	log.Info("search", "backend", searchSvc.Backend.Describe)
	checks = append(checks, server.Check{Name: "search", Pinger: searchSvc, Optional: true})
	bgDone.Go(func() {
		if err := searchSvc.Indexer.Run(bg); err != nil {
			log.Error("search indexer stopped", "err", err)
		}
		// After the indexer's last write, and after the HTTP server's
		// shutdown (which comes before bg ends).
		_ = searchSvc.Index.Close()
	})

	srv, err := server.New(server.Config{
		JWTSecret:      cfg.JWTSecret,
		Logger:         log,
		AllowedOrigins: cfg.AllowedOrigins,
	}, server.Deps{
		Resolver: &resolvers.Resolver{
			Users:         users,
			Projects:      postgres.NewProjectService(db),
			Orders:        postgres.NewOrderService(db),
			Notifications: postgres.NewNotificationService(db),
			Events:        hub,
			Tickets:       postgres.NewTicketService(db),
			Integrations:  integrations,
			Analytics:     postgres.NewAnalyticsService(db),
			PublicURL:     cfg.PublicURL,

			Search:          searchSvc.Index,
			SearchFreshness: searchSvc.Indexer,
			Viewers:         users,
		},
		Callers:  users,
		APIKeys:  integrations,
		Webhooks: hooks.receiver,
		Checks:   checks,
		Web:      webDist(),
	})
	if err != nil {
		return err
	}

	httpServer := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: websockets and SSE streams live for hours.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	httpServer.RegisterOnShutdown(srv.CloseStreams)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()
	base := "http://" + displayAddr(ln.Addr())
	log.Info("serving", "addr", ln.Addr().String(), "graphql", base+"/graphql", "playground", base+"/playground")

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		_ = httpServer.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	if cfg.Production {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// displayAddr turns a listen address into one a browser can open: ":8080"
// and "0.0.0.0:8080" become "localhost:8080".
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// hintURL is displayAddr for a configured address that is not listening.
func hintURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
