package middleware

import (
	"context"
	"sync"
	"time"
)

// sweepInterval is how often MemoryStore drops expired keys, so a long
// running consumer does not keep every key it ever saw.
const sweepInterval = time.Minute

// MemoryStore is a Store in the process's memory. It suits a single
// consumer process, tests and examples; it forgets everything on restart
// and is not shared between processes, so consumers that compete in one
// group on several machines need a shared Store such as Redis or SQL.
// It is safe for concurrent use.
type MemoryStore struct {
	mu        sync.Mutex
	entries   map[string]memoryEntry
	now       func() time.Time // replaced by tests
	lastSweep time.Time
}

type memoryEntry struct {
	owner   string // empty once done
	done    bool
	expires time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{entries: make(map[string]memoryEntry), now: time.Now}
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, key, owner string, lease time.Duration) (ClaimStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	if e, ok := s.entries[key]; ok && now.Before(e.expires) {
		switch {
		case e.done:
			return ClaimDone, nil
		case e.owner != owner:
			return ClaimBusy, nil
		}
	}
	s.entries[key] = memoryEntry{owner: owner, expires: now.Add(lease)}
	return ClaimAcquired, nil
}

// Commit implements Store.
func (s *MemoryStore) Commit(_ context.Context, key string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[key] = memoryEntry{done: true, expires: s.now().Add(ttl)}
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && !e.done && e.owner == owner {
		delete(s.entries, key)
	}
	return nil
}

// sweep drops expired entries at most once per sweepInterval; s.mu is held.
func (s *MemoryStore) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < sweepInterval {
		return
	}
	s.lastSweep = now
	for key, e := range s.entries {
		if !now.Before(e.expires) {
			delete(s.entries, key)
		}
	}
}
