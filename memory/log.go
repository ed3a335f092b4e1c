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

	mu      sync.Mutex
	ring    []driver.Message  // a power of two long; offset o is at o&(len-1)
	start   int64             // oldest offset kept
	count   int               // messages kept
	groups  map[string]*group // durable groups by name
	readers map[*group]struct{}
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

func (t *topicLog) at(offset int64) *driver.Message {
	return &t.ring[offset&int64(len(t.ring)-1)]
}

// push appends m to the ring, doubling it when full.
func (t *topicLog) push(m driver.Message) {
	if t.count == len(t.ring) {
		ring := make([]driver.Message, max(64, 2*len(t.ring)))
		for o := t.start; o < t.end(); o++ {
			ring[o&int64(len(ring)-1)] = *t.at(o)
		}
		t.ring = ring
	}
	t.count++
	*t.at(t.end() - 1) = m
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
			topic:    t,
			name:     name,
			cursor:   t.start,
			low:      t.start,
			inFlight: make(map[int64]flight),
			busy:     make(map[string]busyKey),
			waiting:  make(map[string]int),
			members:  make(map[*member]struct{}),
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
