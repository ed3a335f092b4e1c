package kafka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestLongestPollWait: a consumer that has had messages lately waits at
// most a millisecond between polls when it is its connection's only one,
// longer as there are more, so that together they poll about
// activePollsPerSec times a second; one idle for activeFor waits the
// longest.
func TestLongestPollWait(t *testing.T) {
	for _, tt := range []struct {
		idle    time.Duration
		polling int32
		want    time.Duration
	}{
		{0, 1, time.Millisecond},
		{activeFor - time.Millisecond, 1, time.Millisecond},
		{0, 4, 4 * time.Millisecond},
		{0, 500, maxPollWait},
		{activeFor, 1, maxPollWait},
		{time.Hour, 4, maxPollWait},
	} {
		assert.Equal(t, tt.want, longestPollWait(tt.idle, tt.polling), "idle %v, %d polling", tt.idle, tt.polling)
	}
	for n := int32(1); n <= 8; n++ {
		polls := float64(n) * float64(time.Second) / float64(longestPollWait(0, n))
		assert.InDelta(t, activePollsPerSec, polls, 1, "%d consumers poll at most about %d times a second in all", n, activePollsPerSec)
	}
}
