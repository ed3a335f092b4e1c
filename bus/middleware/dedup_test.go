package middleware

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	_ "github.com/eventbus-go/eventbus/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const waitTimeout = 5 * time.Second

// countingHandler counts its runs and returns what result returns.
type countingHandler struct {
	runs   atomic.Int32
	result func() error
}

func (h *countingHandler) handle(context.Context, *bus.Message) error {
	h.runs.Add(1)
	if h.result == nil {
		return nil
	}
	return h.result()
}

func testMessage() *bus.Message {
	return &bus.Message{ID: "id-1", Topic: "emails", Attempt: 1}
}

func TestDedupSkipsHandledMessage(t *testing.T) {
	ctx := context.Background()
	var h countingHandler
	var duplicates atomic.Int32
	handler := dedup(t, NewMemoryStore(), DedupOnDuplicate(func(context.Context, *bus.Message) { duplicates.Add(1) }))(h.handle)

	require.NoError(t, handler(ctx, testMessage()))
	require.NoError(t, handler(ctx, testMessage()), "a duplicate is acknowledged")
	require.Equal(t, int32(1), h.runs.Load())
	require.Equal(t, int32(1), duplicates.Load())

	other := testMessage()
	other.ID = "id-2"
	require.NoError(t, handler(ctx, other))
	require.Equal(t, int32(2), h.runs.Load(), "another ID is another message")
}

func TestDedupNeverSkipsMessagesWithoutID(t *testing.T) {
	ctx := context.Background()
	var h countingHandler
	handler := dedup(t, NewMemoryStore())(h.handle)
	for range 3 {
		m := testMessage()
		m.ID = ""
		require.NoError(t, handler(ctx, m))
	}
	require.Equal(t, int32(3), h.runs.Load(), "without an ID nothing tells two messages apart: each is handled")
}

func TestDedupKeyIncludesTopic(t *testing.T) {
	ctx := context.Background()
	var h countingHandler
	handler := dedup(t, NewMemoryStore())(h.handle)

	require.NoError(t, handler(ctx, testMessage()))
	elsewhere := testMessage()
	elsewhere.Topic = "emails.replay"
	require.NoError(t, handler(ctx, elsewhere))
	require.Equal(t, int32(2), h.runs.Load())
}

func TestDedupFailureIsNotMarkedDone(t *testing.T) {
	ctx := context.Background()
	failure := errors.New("smtp: 421 try again later")
	var fail atomic.Bool
	fail.Store(true)
	h := countingHandler{result: func() error {
		if fail.Load() {
			return failure
		}
		return nil
	}}
	handler := dedup(t, NewMemoryStore())(h.handle)

	require.ErrorIs(t, handler(ctx, testMessage()), failure)
	require.ErrorIs(t, handler(ctx, testMessage()), failure, "the redelivery of a failed message runs again")
	fail.Store(false)
	require.NoError(t, handler(ctx, testMessage()))
	require.NoError(t, handler(ctx, testMessage()))
	require.Equal(t, int32(3), h.runs.Load(), "runs until it succeeds, then never again")
}

func TestDedupPanicReleasesClaim(t *testing.T) {
	ctx := context.Background()
	var panicking atomic.Bool
	panicking.Store(true)
	h := countingHandler{result: func() error {
		if panicking.Load() {
			panic("boom")
		}
		return nil
	}}
	handler := dedup(t, NewMemoryStore())(h.handle)

	require.PanicsWithValue(t, "boom", func() { _ = handler(ctx, testMessage()) })
	panicking.Store(false)
	require.NoError(t, handler(ctx, testMessage()))
	require.Equal(t, int32(2), h.runs.Load(), "the message ran again after the panic")
}

func TestDedupConcurrentDuplicateWaitsForOriginal(t *testing.T) {
	for _, tc := range []struct {
		name         string
		originalErr  error
		wantRunsThen int32
	}{
		{name: "original succeeds", originalErr: nil, wantRunsThen: 1},
		{name: "original fails", originalErr: errors.New("smtp down"), wantRunsThen: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			started := make(chan struct{})
			finish := make(chan error)
			var runs atomic.Int32
			handler := dedup(t, NewMemoryStore())(func(context.Context, *bus.Message) error {
				if runs.Add(1) == 1 {
					close(started)
					return <-finish
				}
				return nil
			})

			original := make(chan error, 1)
			go func() { original <- handler(ctx, testMessage()) }()
			await(t, started)

			err := handler(ctx, testMessage())
			require.ErrorIs(t, err, ErrInProgress, "a duplicate is not acknowledged while the original runs")
			require.False(t, bus.IsPermanent(err), "the error policy retries it")
			require.Equal(t, int32(1), runs.Load())

			finish <- tc.originalErr
			select {
			case err := <-original:
				require.ErrorIs(t, err, tc.originalErr)
			case <-time.After(waitTimeout):
				require.FailNow(t, "the original handler did not return")
			}
			require.NoError(t, handler(ctx, testMessage()), "the retried duplicate")
			require.Equal(t, tc.wantRunsThen, runs.Load())
		})
	}
}

func TestDedupManyConcurrentDuplicatesRunOnce(t *testing.T) {
	ctx := context.Background()
	var h countingHandler
	handler := dedup(t, NewMemoryStore())(h.handle)

	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			// Retry ErrInProgress as the error policy would.
			for {
				err := handler(ctx, testMessage())
				if !errors.Is(err, ErrInProgress) {
					assert.NoError(t, err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), h.runs.Load())
}

func TestDedupForgetsAfterTTL(t *testing.T) {
	ctx := context.Background()
	store, clock := newTestStore()
	var h countingHandler
	handler := dedup(t, store, DedupTTL(time.Hour))(h.handle)

	require.NoError(t, handler(ctx, testMessage()))
	clock.Advance(59 * time.Minute)
	require.NoError(t, handler(ctx, testMessage()))
	require.Equal(t, int32(1), h.runs.Load())
	clock.Advance(time.Minute)
	require.NoError(t, handler(ctx, testMessage()))
	require.Equal(t, int32(2), h.runs.Load(), "a duplicate after the TTL runs again")
}

func TestDedupClaimExpiresAfterLease(t *testing.T) {
	ctx := context.Background()
	store, clock := newTestStore()
	started := make(chan struct{})
	finish := make(chan struct{})
	var runs atomic.Int32
	handler := dedup(t, store, DedupLease(time.Minute))(func(context.Context, *bus.Message) error {
		if runs.Add(1) == 1 {
			close(started)
			<-finish
		}
		return nil
	})

	original := make(chan error, 1)
	go func() { original <- handler(ctx, testMessage()) }()
	await(t, started)
	require.ErrorIs(t, handler(ctx, testMessage()), ErrInProgress)
	clock.Advance(time.Minute)
	require.NoError(t, handler(ctx, testMessage()), "a claim past its lease no longer blocks")
	require.Equal(t, int32(2), runs.Load())
	close(finish)
	select {
	case err := <-original:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		require.FailNow(t, "the original handler did not return")
	}
}

// failingStore fails the operations it is told to.
type failingStore struct {
	*MemoryStore
	claimErr, commitErr error
}

func (s *failingStore) Claim(ctx context.Context, key, owner string, lease time.Duration) (ClaimStatus, error) {
	if s.claimErr != nil {
		return 0, s.claimErr
	}
	return s.MemoryStore.Claim(ctx, key, owner, lease)
}

func (s *failingStore) Commit(ctx context.Context, key string, ttl time.Duration) error {
	if s.commitErr != nil {
		return s.commitErr
	}
	return s.MemoryStore.Commit(ctx, key, ttl)
}

func TestDedupClaimErrorFailsWithoutRunning(t *testing.T) {
	down := errors.New("redis: connection refused")
	var h countingHandler
	handler := dedup(t, &failingStore{MemoryStore: NewMemoryStore(), claimErr: down})(h.handle)

	err := handler(context.Background(), testMessage())
	require.ErrorIs(t, err, down)
	require.False(t, bus.IsPermanent(err))
	require.Zero(t, h.runs.Load())
}

func TestDedupCommitErrorStillAcknowledges(t *testing.T) {
	down := errors.New("redis: connection refused")
	var logged atomic.Int32
	logger := slog.New(countingLogHandler{&logged})
	var h countingHandler
	handler := dedup(t, &failingStore{MemoryStore: NewMemoryStore(), commitErr: down}, DedupLogger(logger))(h.handle)

	require.NoError(t, handler(context.Background(), testMessage()), "the side effect happened: acknowledge")
	require.Equal(t, int32(1), h.runs.Load())
	require.Equal(t, int32(1), logged.Load(), "the store failure is logged")
}

func TestDedupRejectsInvalidInputNamingIt(t *testing.T) {
	store := NewMemoryStore()
	for _, tc := range []struct {
		name  string
		store Store
		opt   DedupOption
		want  string
	}{
		{"nil store", nil, nil, "store is nil"},
		{"nil option", store, nil, "option is nil"},
		{"zero TTL", store, DedupTTL(0), "DedupTTL"},
		{"negative lease", store, DedupLease(-time.Second), "DedupLease"},
		{"nil key", store, DedupKey(nil), "DedupKey"},
		{"nil callback", store, DedupOnDuplicate(nil), "DedupOnDuplicate"},
		{"nil logger", store, DedupLogger(nil), "DedupLogger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []DedupOption
			if tc.store != nil {
				opts = append(opts, tc.opt)
			}
			mw, err := Dedup(tc.store, opts...)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, mw)
		})
	}
}

// TestDedupOnBus runs two copies of one message (a producer that published
// twice) through a real subscription with two handlers at once.
func TestDedupOnBus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, "mem://")
	require.NoError(t, err)
	defer func() { assert.NoError(t, b.Close(context.Background())) }()

	release := make(chan struct{})
	var runs atomic.Int32
	skipped := make(chan struct{}, 2)
	handler := func(ctx context.Context, m *bus.Message) error {
		runs.Add(1)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	sub, err := b.Subscribe(ctx, "emails", handler,
		bus.Group("mailer"), bus.Concurrency(2),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 100, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, HoldInterval: 10 * time.Millisecond, Multiplier: 2}),
		bus.Use(dedup(t, NewMemoryStore(), DedupOnDuplicate(func(context.Context, *bus.Message) { skipped <- struct{}{} }))))
	require.NoError(t, err)
	defer func() { assert.NoError(t, sub.Close(context.Background())) }()

	// No key, so the two copies may run at once.
	require.NoError(t, b.Publish(ctx, "emails", &bus.Message{ID: "same", Payload: []byte("hi")}, &bus.Message{ID: "same", Payload: []byte("hi")}))
	close(release)
	await(t, skipped)
	require.Equal(t, int32(1), runs.Load())
}

func await(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		require.FailNow(t, "timed out")
	}
}

// countingLogHandler counts records at level Error.
type countingLogHandler struct{ errors *atomic.Int32 }

func (h countingLogHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingLogHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.errors.Add(1)
	}
	return nil
}
func (h countingLogHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingLogHandler) WithGroup(string) slog.Handler      { return h }

// dedup is Dedup with valid arguments.
func dedup(t *testing.T, store Store, opts ...DedupOption) bus.Middleware {
	t.Helper()
	mw, err := Dedup(store, opts...)
	require.NoError(t, err)
	return mw
}
