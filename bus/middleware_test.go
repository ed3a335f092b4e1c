package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// callLog records middleware and handler calls in order.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(s string) {
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
}

func (l *callLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func recording(log *callLog, name string) bus.Middleware {
	return func(next bus.Handler) bus.Handler {
		return func(ctx context.Context, m *bus.Message) error {
			log.add(name + " before")
			err := next(ctx, m)
			log.add(name + " after")
			return err
		}
	}
}

func TestMiddlewareOrderAndRetry(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://")
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, b.Publish(t.Context(), "mw", &bus.Message{Key: "k", Payload: []byte("x")}))

	var log callLog
	done := make(chan struct{})
	// outermost sees the final result of each run; it closes done after the
	// run that succeeded, when the whole chain has returned.
	outermost := func(next bus.Handler) bus.Handler {
		return func(ctx context.Context, m *bus.Message) error {
			err := next(ctx, m)
			if err == nil {
				close(done)
			}
			return err
		}
	}
	runs := 0
	handler := func(_ context.Context, m *bus.Message) error {
		runs++
		log.add("handler")
		if runs == 1 {
			return errors.New("transient")
		}
		return nil
	}
	sub, err := b.Subscribe(t.Context(), "mw", handler,
		bus.Group("g"),
		bus.Use(outermost, recording(&log, "a")),
		bus.Use(recording(&log, "b")),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 3}), // no backoff
	)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close(context.Background()) })

	receive(t, done)
	run := []string{"a before", "b before", "handler", "b after", "a after"}
	assert.Equal(t, append(append([]string{}, run...), run...), log.get(),
		"the first middleware is outermost, and a retry runs the whole chain again")
}

func TestUseRejectsNilMiddleware(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://")
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })

	noop := func(h bus.Handler) bus.Handler { return h }
	_, err = b.Subscribe(t.Context(), "mw", func(context.Context, *bus.Message) error { return nil },
		bus.Use(noop, nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "middleware 1 is nil")
}
