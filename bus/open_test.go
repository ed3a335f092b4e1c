package bus_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openTestConn is a driver connection that does nothing; it lets the tests
// see what Open hands a driver and makes of its answer.
type openTestConn struct{}

func (openTestConn) Publish(context.Context, string, []driver.Message) error { return nil }
func (openTestConn) Subscribe(context.Context, string, driver.SubscribeConfig) (driver.Subscription, error) {
	return nil, errors.New("openTestConn: no subscriptions")
}
func (openTestConn) Capabilities() driver.Capabilities { return driver.Capabilities{} }
func (openTestConn) As(any) bool                       { return false }
func (openTestConn) Close(context.Context) error       { return nil }

// openTestScheme accepts any URL and records the last one it was given.
const openTestScheme = "opentest"

var (
	registerOpenTest sync.Once
	openTestURL      atomic.Pointer[url.URL]
)

func useOpenTestScheme(t *testing.T) {
	t.Helper()
	registerOpenTest.Do(func() {
		bus.Register(openTestScheme, func(_ context.Context, cfg driver.OpenConfig) (driver.Conn, error) {
			openTestURL.Store(cfg.URL)
			if cfg.URL.Query().Has("fail") {
				return nil, fmt.Errorf("%w: opentest refuses", driver.ErrInvalidURL)
			}
			return openTestConn{}, nil
		})
	})
}

var uniqueSchemes atomic.Int64

func uniqueScheme() string { return fmt.Sprintf("registertest%d", uniqueSchemes.Add(1)) }

func TestSchemesHasMem(t *testing.T) {
	schemes := bus.Schemes()
	assert.Contains(t, schemes, "mem")
	assert.True(t, slices.IsSorted(schemes), "%v", schemes)
}

func TestRegisterTwicePanics(t *testing.T) {
	scheme := uniqueScheme()
	open := func(context.Context, driver.OpenConfig) (driver.Conn, error) { return openTestConn{}, nil }
	require.NotPanics(t, func() { bus.Register(scheme, open) })
	assert.Contains(t, bus.Schemes(), scheme)
	assert.PanicsWithValue(t, "bus: Register called twice for scheme "+scheme, func() { bus.Register(scheme, open) })
	assert.PanicsWithValue(t, "bus: Register called twice for scheme mem", func() { bus.Register("mem", open) })
}

func TestRegisterNilOpenerPanics(t *testing.T) {
	scheme := uniqueScheme()
	assert.Panics(t, func() { bus.Register(scheme, nil) })
	assert.NotContains(t, bus.Schemes(), scheme)
}

func TestOpenUnknownScheme(t *testing.T) {
	_, err := bus.Open(t.Context(), "nosuchscheme://host:1")
	require.ErrorIs(t, err, bus.ErrInvalidURL)
	assert.Contains(t, err.Error(), `unknown scheme "nosuchscheme"`)
	assert.Contains(t, err.Error(), "registered: ")
	for _, scheme := range bus.Schemes() {
		assert.Contains(t, err.Error(), scheme)
	}
}

func TestOpenNoScheme(t *testing.T) {
	_, err := bus.Open(t.Context(), "localhost")
	require.ErrorIs(t, err, bus.ErrInvalidURL)
	assert.Contains(t, err.Error(), "no scheme")
	assert.Contains(t, err.Error(), "mem")
}

func TestOpenDriverErrorIsReturned(t *testing.T) {
	useOpenTestScheme(t)
	_, err := bus.Open(t.Context(), openTestScheme+"://host?fail=1")
	require.ErrorIs(t, err, bus.ErrInvalidURL)
	assert.Contains(t, err.Error(), "opentest refuses")
}

func TestOpenKeepsSecretsOutOfErrors(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{"mem with user info and unknown parameter", "mem://user:secret@/?token=secret"},
		{"mem with user info only", "mem://user:secret@/"},
		{"unknown parameter value", "mem://?token=secret"},
		{"unknown parameter next to a bad one", "mem://?retention=x&token=secret"},
		{"unknown scheme", "nosuchscheme://user:secret@host:1/path?token=secret"},
		{"unparsable URL", "mem://user:secret@[::1/?token=secret"},
		{"unparsable escape", "mem://user:secret@host/%zz?token=secret"},
		{"no scheme", "//user:secret@host/?token=secret"},
		{"no scheme, only a path", "/path?token=secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bus.Open(t.Context(), tt.url)
			require.Error(t, err)
			assert.Nil(t, b)
			assert.ErrorIs(t, err, bus.ErrInvalidURL)
			assert.NotContains(t, err.Error(), "secret")
		})
	}
}

func TestBusStringHasNoSecrets(t *testing.T) {
	useOpenTestScheme(t)
	raw := openTestScheme + "://user:secret@broker1:9092/tenant/ns?token=secret&sasl.password=secret"
	b, err := bus.Open(t.Context(), raw)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })

	assert.Equal(t, openTestScheme+"://broker1:9092/tenant/ns", b.String())
	assert.Equal(t, b.String(), fmt.Sprint(b))

	// The driver itself gets the whole URL: it needs the secrets.
	got := openTestURL.Load()
	require.NotNil(t, got)
	password, _ := got.User.Password()
	assert.Equal(t, "secret", password)
	assert.Equal(t, "secret", got.Query().Get("token"))
}

func TestMemBusString(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://?retention=10&max_message_bytes=100")
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	assert.Equal(t, "mem://", b.String())
}

func TestBusAsReachesBroker(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://")
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })

	var broker *memory.Broker
	require.True(t, b.As(&broker))
	require.NotNil(t, broker)

	// It is the broker behind b: a second bus on it sees b's messages.
	other := memBus(t, broker)
	t.Cleanup(func() { _ = other.Close(context.Background()) })
	require.NoError(t, b.Publish(t.Context(), "shared", &bus.Message{Payload: []byte("hi")}))
	got := make(chan string, 1)
	sub, err := other.Subscribe(t.Context(), "shared", func(_ context.Context, m *bus.Message) error {
		got <- string(m.Payload)
		return nil
	}, bus.Group("g"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	assert.Equal(t, "hi", receive(t, got))

	var wrong *string
	assert.False(t, b.As(&wrong))
	assert.Nil(t, wrong)
	assert.False(t, b.As(nil))
}

func TestDeliveredMemMessageAs(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://")
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, b.Publish(t.Context(), "t", &bus.Message{Payload: []byte("x")}))

	type asResult struct{ wrongType, nilTarget bool }
	got := make(chan asResult, 1)
	sub, err := b.Subscribe(t.Context(), "t", func(_ context.Context, m *bus.Message) error {
		var s *string
		got <- asResult{wrongType: m.As(&s), nilTarget: m.As(nil)}
		return nil
	}, bus.Group("g"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close(context.Background()) })

	r := receive(t, got)
	assert.False(t, r.wrongType)
	assert.False(t, r.nilTarget)
}

// receive waits for one value, failing the test after a generous bound
// rather than hanging it.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a value")
		var zero T
		return zero
	}
}

func TestOpenRejectsInvalidOptionsNamingThem(t *testing.T) {
	for _, tc := range []struct {
		option bus.OpenOption
		want   string
	}{
		{bus.Logger(nil), "Logger"},
		{bus.TracerProvider(nil), "TracerProvider"},
		{bus.MeterProvider(nil), "MeterProvider"},
		{bus.Propagator(nil), "Propagator"},
		{nil, "option is nil"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			b, err := bus.Open(t.Context(), "mem://", tc.option)
			require.Error(t, err)
			assert.Nil(t, b)
			assert.Contains(t, err.Error(), tc.want)

			_, err = newBroker(t, memory.Options{}).NewBus(tc.option)
			assert.ErrorContains(t, err, tc.want, "NewBus validates as Open does")
		})
	}
}

func TestSubscribeAndNewRequesterRejectInvalidOptionsNamingThem(t *testing.T) {
	b := memBus(t, newBroker(t, memory.Options{}))
	defer b.Close(context.Background())
	handler := func(context.Context, *bus.Message) error { return nil }
	for _, tc := range []struct {
		option bus.SubscribeOption
		want   string
	}{
		{bus.Group(""), "Group"},
		{bus.Concurrency(0), "Concurrency"},
		{bus.MaxInFlight(0), "MaxInFlight"},
		{bus.Use(nil), "Use"},
		{bus.Retry(bus.RetryPolicy{}), "Retry"},
		{bus.DeadLetterTopic(""), "DeadLetterTopic"},
		{bus.DrainTimeout(0), "DrainTimeout"},
		{bus.DriverOption(nil), "DriverOption"},
		{nil, "option is nil"},
	} {
		_, err := b.Subscribe(t.Context(), "orders", handler, tc.option)
		assert.ErrorContains(t, err, tc.want)
	}
	for _, tc := range []struct {
		option bus.RequesterOption
		want   string
	}{
		{bus.ReplyTopic(""), "ReplyTopic"},
		{bus.ReplyGroup(""), "ReplyGroup"},
		{bus.ReplyTimeout(0), "ReplyTimeout"},
		{nil, "option is nil"},
	} {
		_, err := b.NewRequester(t.Context(), tc.option)
		assert.ErrorContains(t, err, tc.want)
	}
}
