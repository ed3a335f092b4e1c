package middleware

import (
	"context"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/stretchr/testify/require"
)

func TestDedupHandsItsClaimToTheHandler(t *testing.T) {
	_, ok := ClaimFromContext(t.Context())
	require.False(t, ok, "no claim outside Dedup")

	store := NewMemoryStore()
	var got Claim
	h := dedup(t, store, DedupTTL(time.Hour), DedupKey(func(m *bus.Message) string { return "key-" + m.ID }))(
		func(ctx context.Context, m *bus.Message) error {
			var ok bool
			got, ok = ClaimFromContext(ctx)
			require.True(t, ok)
			return nil
		})
	require.NoError(t, h(t.Context(), &bus.Message{ID: "m-1"}))
	require.Equal(t, "key-m-1", got.Key)
	require.Equal(t, time.Hour, got.TTL)
	require.NotEmpty(t, got.Owner)
	status, err := store.Claim(t.Context(), got.Key, got.Owner, time.Minute)
	require.NoError(t, err)
	require.Equal(t, ClaimDone, status, "the claim handed over is the one Dedup committed")
}
