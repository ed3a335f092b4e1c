package pulsar_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// blackHole accepts connections and never answers, like a broker that
// hangs; it closes them when the test ends.
func blackHole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestBlockingCallsHonourContext: against a broker that accepts
// connections and never answers, Publish and Subscribe return when their
// ctx ends (plus a second), though the client's own calls take none.
func TestBlockingCallsHonourContext(t *testing.T) {
	addr := blackHole(t)
	b, err := bus.Open(context.Background(), "pulsar://"+addr+"?operationTimeout=60s&connectionTimeout=60s",
		bus.Logger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, b.Close(ctx), "nothing was published, so Close has nothing to report")
	})

	const wait = time.Second
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Publish", func(ctx context.Context) error {
			return b.Publish(ctx, "orders", &bus.Message{Payload: []byte("x")}, &bus.Message{Payload: []byte("y")})
		}},
		{"Subscribe", func(ctx context.Context) error {
			_, err := b.Subscribe(ctx, "orders", func(context.Context, *bus.Message) error { return nil }, bus.Group("g"))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			elapsed := time.Since(start)
			require.Error(t, err)
			assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
			assert.Less(t, elapsed, wait+time.Second, "returned %v after its ctx ended", elapsed-wait)
		})
	}
}

// TestUnreachableOpenNamesTheAddress: nothing listens, so Open fails when
// its ctx ends, naming the address; a plaintext port given as pulsar+ssl://
// fails at once and says so.
func TestUnreachableOpenNamesTheAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err = bus.Open(ctx, "pulsar://"+closed)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "dial tcp "+closed)
	assert.Less(t, time.Since(start), 2*time.Second)

	// A plain TCP server that closes what it cannot parse, as Pulsar's
	// plaintext port does with a TLS ClientHello.
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { plain.Close() })
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4)
			_, _ = c.Read(buf)
			c.Close()
		}
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = bus.Open(ctx, "pulsar+ssl://"+plain.Addr().String())
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "failed at once, not when ctx ended")
	assert.ErrorContains(t, err, plain.Addr().String()+" closed the connection during the TLS handshake: it is a plaintext port")
}
