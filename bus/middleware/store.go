package middleware

import (
	"context"
	"strconv"
	"time"
)

// ClaimStatus is the answer of Store.Claim.
type ClaimStatus int

const (
	// ClaimAcquired means the caller now holds the key and may run the
	// handler; it must then Commit or Release the key.
	ClaimAcquired ClaimStatus = iota + 1
	// ClaimDone means the key was committed and its TTL has not passed:
	// the message was handled already.
	ClaimDone
	// ClaimBusy means another run holds an unexpired claim on the key: the
	// same message is being handled right now.
	ClaimBusy
)

// String names the status.
func (s ClaimStatus) String() string {
	switch s {
	case ClaimAcquired:
		return "acquired"
	case ClaimDone:
		return "done"
	case ClaimBusy:
		return "busy"
	default:
		return "ClaimStatus(" + strconv.Itoa(int(s)) + ")"
	}
}

// Store records which messages Dedup has handled. A key is in one of three
// states: absent (or expired), claimed by one owner until its lease ends,
// or done until its TTL ends. Every method must be atomic with respect to
// the others for the same key, across all processes sharing the store.
//
// A Redis store, for instance, maps Claim to SET key owner NX PX lease
// (then GET to tell done from busy), Commit to SET key "done" PX ttl, and
// Release to a script that deletes the key only while it holds owner. A
// SQL store uses a table keyed by key with owner, done and expiry columns.
type Store interface {
	// Claim takes key for owner for at most lease, unless it is done or
	// claimed by another owner whose lease has not ended.
	Claim(ctx context.Context, key, owner string, lease time.Duration) (ClaimStatus, error)
	// Commit marks key done for ttl, whoever holds it.
	Commit(ctx context.Context, key string, ttl time.Duration) error
	// Release drops owner's claim on key, so the next delivery runs the
	// handler again. It leaves key alone when owner no longer holds it.
	Release(ctx context.Context, key, owner string) error
}
