package memory

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// topicLog is one topic: its retained messages and the groups reading them.
type topicLog struct {
	name      string
	retention int

	mu sync.Mutex
	// segments is a ring of segments, a power of two long: offset o is
	// message o%segmentLen of segments[o/segmentLen%len(segments)].
	segments [][]driver.Message
	free     [][]driver.Message // evicted segments, cleared, for reuse
	start    int64              // oldest offset kept
	count    int                // messages kept
	groups   map[string]*group  // durable groups by name
	readers  map[*group]struct{}
	// Waiting subscriptions are woken by new or returned messages, waiting
	// publishers by room; each waiter has its own channel.
	consumers waiterSet
	producers waiterSet
}

func newTopicLog(name string, retention int) *topicLog {
	return &topicLog{
		name:      name,
		retention: retention,
		groups:    make(map[string]*group),
		readers:   make(map[*group]struct{}),
	}
}

func (t *topicLog) end() int64 { return t.start + int64(t.count) }

// A topic keeps its messages in segments of segmentLen, so that growing
// the log allocates one small object and copies nothing. Kept in one
// array, doubled and copied whenever it filled, a topic's first 130,000
// messages cost about twice the CPU of later ones, and the collector's
// mark phases took up to 80 ms while the arrays grew.
const (
	segmentBits = 8
	segmentLen  = 1 << segmentBits
)

func (t *topicLog) at(offset int64) *driver.Message {
	segment := t.segments[(offset>>segmentBits)&int64(len(t.segments)-1)]
	return &segment[offset&(segmentLen-1)]
}

// push appends m, adding a segment when m is the first of one.
func (t *topicLog) push(m driver.Message) {
	end := t.end()
	if end&(segmentLen-1) == 0 {
		t.addSegment(end >> segmentBits)
	}
	t.count++
	*t.at(end) = m
}

// addSegment adds segment number n, after the last, doubling the ring of
// segments when it is full.
func (t *topicLog) addSegment(n int64) {
	first := t.start >> segmentBits // the oldest segment kept, if any
	if n-first >= int64(len(t.segments)) {
		segments := make([][]driver.Message, max(4, 2*len(t.segments)))
		for i := first; i < n; i++ {
			segments[i&int64(len(segments)-1)] = t.segments[i&int64(len(t.segments)-1)]
		}
		t.segments = segments
	}
	var segment []driver.Message
	if last := len(t.free) - 1; last >= 0 {
		segment, t.free[last] = t.free[last], nil
		t.free = t.free[:last]
	} else {
		segment = make([]driver.Message, segmentLen)
	}
	t.segments[n&int64(len(t.segments)-1)] = segment
}

// waiterSet holds the wake-up channels, each with a buffer of one, of the
// goroutines waiting for one kind of change; t.mu guards it. It is a slice:
// it is scanned on every publish, and seldom holds more than a few.
type waiterSet struct{ waiting []chan struct{} }

// wake wakes every waiter of the set.
func (ws *waiterSet) wake() {
	for _, wake := range ws.waiting {
		select {
		case wake <- struct{}{}:
		default: // already woken
		}
	}
}

func (ws *waiterSet) remove(wake chan struct{}) {
	if i := slices.Index(ws.waiting, wake); i >= 0 {
		last := len(ws.waiting) - 1
		ws.waiting[i] = ws.waiting[last]
		ws.waiting[last] = nil
		ws.waiting = ws.waiting[:last]
	}
}

// wait releases t.mu until the set is woken, timeout passes (when
// positive) or ctx is done, and takes it again.
func (t *topicLog) wait(ctx context.Context, ws *waiterSet, wake chan struct{}, timeout time.Duration) error {
	ws.waiting = append(ws.waiting, wake)
	t.mu.Unlock()
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	var err error
	select {
	case <-wake:
	case <-expired:
	case <-ctx.Done():
		err = ctx.Err()
	}
	t.mu.Lock()
	ws.remove(wake)
	select {
	case <-wake: // drop a wake-up that raced with the return
	default:
	}
	return err
}

// append adds msgs, copied, waiting for room when retention is reached.
func (t *topicLog) append(ctx context.Context, msgs []driver.Message) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wake chan struct{}
	for i, m := range msgs {
		for t.count >= t.retention && !t.evict() {
			if wake == nil {
				wake = make(chan struct{}, 1)
			}
			if err := t.wait(ctx, &t.producers, wake, 0); err != nil {
				errs := make(driver.MessageErrors, len(msgs))
				for j := i; j < len(msgs); j++ {
					errs[j] = fmt.Errorf("%w: topic %q holds %d messages not yet acknowledged by every group: %w",
						ErrFull, t.name, t.retention, err)
				}
				return errs
			}
		}
		m.Payload = bytes.Clone(m.Payload)
		m.Header = maps.Clone(m.Header)
		t.completeAt(&m, t.end())
		t.push(m)
	}
	t.consumers.wake()
	return nil
}

// evict drops the oldest messages every group is done with, at most a
// 64th of the retention at once so that the check is not made for every
// message, and reports whether it dropped any.
func (t *topicLog) evict() bool {
	low := t.start + int64(max(1, t.retention/64))
	for _, g := range t.groups {
		low = min(low, g.lowWater())
	}
	for g := range t.readers {
		low = min(low, g.lowWater())
	}
	if low <= t.start {
		return false
	}
	for ; t.start < low; t.start++ {
		*t.at(t.start) = driver.Message{}
		t.count--
		if (t.start+1)&(segmentLen-1) == 0 { // the last of its segment
			slot := &t.segments[(t.start>>segmentBits)&int64(len(t.segments)-1)]
			t.free = append(t.free, *slot)
			*slot = nil
		}
	}
	return true
}

// join adds a member to the named group, or to a new ephemeral group that
// starts at the end of the log when name is empty.
func (t *topicLog) join(name string) *member {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.groups[name]
	if g == nil {
		g = &group{
			topic:   t,
			name:    name,
			cursor:  t.start,
			low:     t.start,
			busy:    make(map[string]busyKey),
			waiting: make(map[string]int),
			members: make(map[*member]struct{}),
		}
		if name == "" {
			g.cursor, g.low = t.end(), t.end()
			t.readers[g] = struct{}{}
		} else {
			t.groups[name] = g
		}
	}
	m := &member{group: g, skipped: make(map[string]bool), wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.addMember(m)
	g.mu.Unlock()
	return m
}
