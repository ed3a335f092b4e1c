package middleware

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for MemoryStore, so expiry is tested
// without waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestStore() (*MemoryStore, *fakeClock) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := NewMemoryStore()
	s.now = clock.Now
	return s, clock
}

func TestMemoryStoreDoneExpiresAfterTTL(t *testing.T) {
	ctx := context.Background()
	s, clock := newTestStore()

	require.Equal(t, ClaimAcquired, claim(t, s, "k", "a", time.Minute))
	require.NoError(t, s.Commit(ctx, "k", time.Hour))
	clock.Advance(time.Hour - time.Nanosecond)
	require.Equal(t, ClaimDone, claim(t, s, "k", "b", time.Minute), "done until the TTL ends")
	clock.Advance(time.Nanosecond)
	require.Equal(t, ClaimAcquired, claim(t, s, "k", "b", time.Minute), "forgotten once the TTL ended")
}

func TestMemoryStoreClaimExpiresAfterLease(t *testing.T) {
	ctx := context.Background()
	s, clock := newTestStore()

	require.Equal(t, ClaimAcquired, claim(t, s, "k", "a", time.Minute))
	require.Equal(t, ClaimBusy, claim(t, s, "k", "b", time.Minute))
	clock.Advance(time.Minute)
	require.Equal(t, ClaimAcquired, claim(t, s, "k", "b", time.Minute), "a's lease ended")

	require.NoError(t, s.Release(ctx, "k", "a"))
	require.Equal(t, ClaimBusy, claim(t, s, "k", "c", time.Minute), "a stale owner's Release leaves b's claim alone")
	require.NoError(t, s.Release(ctx, "k", "b"))
	require.Equal(t, ClaimAcquired, claim(t, s, "k", "c", time.Minute), "b's Release frees the key")
}

func TestMemoryStoreReleaseDoesNotUndoCommit(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore()

	require.Equal(t, ClaimAcquired, claim(t, s, "k", "a", time.Minute))
	require.NoError(t, s.Commit(ctx, "k", time.Hour))
	require.NoError(t, s.Release(ctx, "k", "a"))
	require.Equal(t, ClaimDone, claim(t, s, "k", "b", time.Minute))
}

func TestMemoryStoreSweepsExpiredKeys(t *testing.T) {
	ctx := context.Background()
	s, clock := newTestStore()

	require.Equal(t, ClaimAcquired, claim(t, s, "short", "a", time.Minute))
	require.NoError(t, s.Commit(ctx, "short", time.Second))
	require.Equal(t, ClaimAcquired, claim(t, s, "long", "a", time.Minute))
	require.NoError(t, s.Commit(ctx, "long", 24*time.Hour))
	clock.Advance(sweepInterval)
	require.Equal(t, ClaimAcquired, claim(t, s, "new", "a", time.Minute))

	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotContains(t, s.entries, "short")
	require.Contains(t, s.entries, "long")
	require.Contains(t, s.entries, "new")
}

func claim(t *testing.T, s Store, key, owner string, lease time.Duration) ClaimStatus {
	t.Helper()
	status, err := s.Claim(context.Background(), key, owner, lease)
	require.NoError(t, err)
	return status
}
