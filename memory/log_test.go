package memory

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// TestLogKeepsItsMessagesAcrossSegments publishes many times the
// retention, one message at a time, into a log no group holds back, and
// checks that every message kept is the one published at its offset,
// that evicted segments come back cleared, and that the log stops
// allocating once it is full.
func TestLogKeepsItsMessagesAcrossSegments(t *testing.T) {
	const retention = 1000
	log := newTopicLog("t", retention)
	check := func(published int) {
		require.LessOrEqual(t, log.count, retention)
		require.Equal(t, int64(published), log.end())
		for o := log.start; o < log.end(); o++ {
			require.Equal(t, strconv.FormatInt(o, 10), log.at(o).ID, "offset %d", o)
		}
		for _, segment := range log.free {
			require.Equal(t, make([]driver.Message, segmentLen), segment, "an evicted segment is cleared")
		}
	}
	publish := func(n int) {
		require.NoError(t, log.append(t.Context(), []driver.Message{{ID: strconv.Itoa(n), Payload: []byte("x")}}))
	}
	for n := range 3 * retention {
		publish(n)
		if n%97 == 0 {
			check(n + 1)
		}
	}
	check(3 * retention)
	segments := len(log.segments)
	require.LessOrEqual(t, segments, 8, "a ring of segments just over the retention's")

	// Full and evicting: every segment is a recycled one. AllocsPerRun
	// runs the function twice, once to warm up.
	published := 3 * retention
	ids := make([]string, 2*10*retention)
	for i := range ids {
		ids[i] = strconv.Itoa(published + i)
	}
	allocs := testing.AllocsPerRun(1, func() {
		for range 10 * retention {
			log.mu.Lock()
			if log.count >= log.retention && !log.evict() {
				t.Fatal("a log without groups always evicts")
			}
			log.push(driver.Message{ID: ids[published-3*retention]})
			log.mu.Unlock()
			published++
		}
	})
	require.Zero(t, allocs)
	require.Equal(t, segments, len(log.segments))
	check(published)
}
