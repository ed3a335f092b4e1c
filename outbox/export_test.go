package outbox

import "time"

// SetDedupClock replaces the clock of s, for tests of expiry.
func SetDedupClock(s *DedupStore, now func() time.Time) { s.now = now }
