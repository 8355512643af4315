package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the JetStream stream holding resource-change events.
const StreamName = "TELEHUB_CHANGES"

// SubjectPrefix starts the subject of every change event: telehub.change.<Type>.
const SubjectPrefix = "telehub.change."

// BusOptions configures a Bus. Zero values take the documented defaults.
type BusOptions struct {
	// URL joins an external NATS server or cluster ("nats://host:4222",
	// several separated by commas). Empty starts an embedded server.
	URL string
	// DataDir is where the embedded server keeps its JetStream store
	// (typically <data dir>/nats); required when URL is empty.
	DataDir string
	// Host and Port are where the embedded server listens (default
	// 127.0.0.1 and a random port), so other processes may join it.
	Host string
	Port int
	// MaxAge and MaxBytes bound the change stream (defaults 7 days and
	// 1 GiB): a Subscription whose endpoint stays down longer than that
	// loses the oldest changes.
	MaxAge   time.Duration
	MaxBytes int64
	// Replicas of the stream on an external cluster (default 1).
	Replicas int
	// Name names the connection in the NATS server's monitoring.
	Name   string
	Logger *slog.Logger
}

// Bus is TeleHub's connection to NATS and its change stream.
type Bus struct {
	opts   BusOptions
	log    *slog.Logger
	server *server.Server // nil when joined to an external server
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	pub    *publisher
}

// OpenBus starts the embedded NATS server (or connects to opts.URL), and
// creates or updates the change stream.
func OpenBus(ctx context.Context, opts BusOptions) (*Bus, error) {
	if opts.MaxAge <= 0 {
		opts.MaxAge = 7 * 24 * time.Hour
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Name == "" {
		opts.Name = "telehub"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &Bus{opts: opts, log: opts.Logger}
	connOpts := []nats.Option{
		nats.Name(opts.Name),
		// Reconnect for ever: a NATS outage must not end the server; the
		// publisher retries what it could not publish meanwhile.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("nats: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { b.log.Info("nats: reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	url := opts.URL
	if url == "" {
		if opts.DataDir == "" {
			return nil, errors.New("events: open bus: an embedded NATS server needs a data directory")
		}
		srv, err := startServer(opts)
		if err != nil {
			return nil, err
		}
		b.server = srv
		url = srv.ClientURL()
		// This process's own connection skips the loopback socket; other
		// processes join on url.
		connOpts = append(connOpts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, connOpts...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("events: connect to NATS %s: %w", url, err)
	}
	b.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("events: jetstream: %w", err)
	}
	b.js = js
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "TeleHub resource-change events, one per committed write",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      opts.MaxAge,
		MaxBytes:    opts.MaxBytes,
		Replicas:    opts.Replicas,
		// Publishes carry a message id (Type/id/version): a retried
		// publish within this window is stored once.
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("events: create stream %s: %w", StreamName, err)
	}
	b.stream = stream
	b.pub = newPublisher()
	go b.retryLoop()
	return b, nil
}

func startServer(opts BusOptions) (*server.Server, error) {
	host, port := opts.Host, opts.Port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: opts.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Clean(opts.DataDir),
		NoSigs:     true, // the process handles its own signals
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("events: embedded NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("events: embedded NATS server did not start within 30s")
	}
	return srv, nil
}

// ClientURL is the URL other processes join: the embedded server's
// address, or the external URL.
func (b *Bus) ClientURL() string {
	if b.server != nil {
		return b.server.ClientURL()
	}
	return b.opts.URL
}

// Conn is the NATS connection, for callers that publish or subscribe on
// subjects of their own (e.g. signaling).
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the JetStream context of the connection.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Ping checks the connection and the change stream answer (readiness).
func (b *Bus) Ping(ctx context.Context) error {
	if _, err := b.stream.Info(ctx); err != nil {
		return fmt.Errorf("events: stream %s: %w", StreamName, err)
	}
	return nil
}

// Close drains the connection and stops the embedded server. Close the
// Subscriptions manager and stop writing through Publish before.
func (b *Bus) Close() error {
	var err error
	b.stopPublisher()
	if b.nc != nil {
		err = b.nc.Drain()
		// Drain is asynchronous; wait for it so that pending acks go out.
		deadline := time.Now().Add(5 * time.Second)
		for !b.nc.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		b.nc.Close()
	}
	b.shutdownServer()
	return err
}

func (b *Bus) shutdownServer() {
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}
