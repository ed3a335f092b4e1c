package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventbus-go/eventbus/bus/driver"
)

var (
	registryMu sync.RWMutex
	registry   = map[string]driver.Opener{}
)

// Register makes a driver available under a URL scheme. Drivers call it
// from init; registering a scheme twice panics, as with database/sql.
func Register(scheme string, open driver.Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if open == nil {
		panic("bus: Register of nil opener for scheme " + scheme)
	}
	if _, dup := registry[scheme]; dup {
		panic("bus: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	schemes := make([]string, 0, len(registry))
	for s := range registry {
		schemes = append(schemes, s)
	}
	slices.Sort(schemes)
	return schemes
}

// OpenOption configures Open and NewBus. An option given a value it
// cannot use makes Open fail with an error that names the option.
type OpenOption func(*openOptions) error

type openOptions struct {
	logger         *slog.Logger
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagator     propagation.TextMapPropagator
	noTelemetry    bool
	structured     bool
}

func makeOpenOptions(opts []OpenOption) (openOptions, error) {
	o := openOptions{logger: slog.Default()}
	for _, opt := range opts {
		if opt == nil {
			return o, errors.New("eventbus: open: an option is nil")
		}
		if err := opt(&o); err != nil {
			return o, fmt.Errorf("eventbus: open: %w", err)
		}
	}
	return o, nil
}

// Logger sets the logger for the bus and its driver; the default is
// slog.Default(). To log nothing, pass slog.New(slog.DiscardHandler).
// Loggers never receive secrets.
func Logger(l *slog.Logger) OpenOption {
	return func(o *openOptions) error {
		if l == nil {
			return errors.New("Logger: the logger is nil (slog.New(slog.DiscardHandler) logs nothing)")
		}
		o.logger = l
		return nil
	}
}

// StructuredMode makes Publish write CloudEvents structured mode: each
// message's payload becomes the whole event in JSON (content-type
// application/cloudevents+json), with its data as a JSON value when the
// message's content-type is JSON, as text when it is text, and in
// data_base64 otherwise; only headers that are not CloudEvents attributes
// stay headers. For consumers that read structured mode only. Subscribers
// read both modes either way; dead letters are always written in binary
// mode.
func StructuredMode() OpenOption {
	return func(o *openOptions) error {
		o.structured = true
		return nil
	}
}

// Open connects to the backend named by rawURL's scheme: "mem://",
// "kafka://host:port,...", "pulsar://host:port". The query string holds
// driver parameters; an unknown scheme or parameter is an ErrInvalidURL
// error that names it.
func Open(ctx context.Context, rawURL string, opts ...OpenOption) (*Bus, error) {
	o, err := makeOpenOptions(opts)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the input, which may hold a password.
		return nil, fmt.Errorf("%w: cannot parse URL", ErrInvalidURL)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("%w: the URL has no scheme (registered: %s)", ErrInvalidURL, strings.Join(Schemes(), ", "))
	}
	registryMu.RLock()
	opener := registry[u.Scheme]
	registryMu.RUnlock()
	if opener == nil {
		return nil, fmt.Errorf("%w: unknown scheme %q (registered: %s; a driver joins by blank import, e.g. _ \"github.com/eventbus-go/eventbus/memory\")",
			ErrInvalidURL, u.Scheme, strings.Join(Schemes(), ", "))
	}
	o.logger = o.logger.With("bus", u.Scheme)
	conn, err := opener(ctx, driver.OpenConfig{URL: u, Logger: o.logger})
	if err != nil {
		return nil, err
	}
	// The name keeps no user info and no query: those may hold secrets.
	return newBus(conn, u.Scheme+"://"+u.Host+u.Path, o), nil
}

// NewBus wraps an already open driver connection, named name in String
// and logs. Drivers' tests and programs that build a Conn by hand use it;
// everyone else calls Open. The options apply as in Open; an invalid one
// is an error and leaves conn open.
func NewBus(conn driver.Conn, name string, opts ...OpenOption) (*Bus, error) {
	if conn == nil {
		return nil, errors.New("eventbus: NewBus: conn is nil")
	}
	o, err := makeOpenOptions(opts)
	if err != nil {
		return nil, err
	}
	return newBus(conn, name, o), nil
}
