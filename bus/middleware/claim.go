package middleware

import (
	"context"
	"time"
)

// Claim is the hold Dedup has on a message while its handler runs: the key
// it claimed in the Store, the owner token it claimed it with, and the TTL
// it will commit it for. A Store that can join the handler's own
// transaction (such as outbox.DedupStore) uses it to mark the message done
// atomically with the handler's writes.
type Claim struct {
	Key   string
	Owner string
	TTL   time.Duration
}

type claimKey struct{}

// ClaimFromContext returns the Claim Dedup holds for the message whose
// handler got ctx, and false outside a Dedup handler.
func ClaimFromContext(ctx context.Context) (Claim, bool) {
	c, ok := ctx.Value(claimKey{}).(Claim)
	return c, ok
}

func withClaim(ctx context.Context, c Claim) context.Context {
	return context.WithValue(ctx, claimKey{}, c)
}
