package memory

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// topicLog is one topic: its retained messages and the groups reading them.
type topicLog struct {
	name      string
	retention int

	mu      sync.Mutex
	entries []driver.Message // entries[i] has offset start+i
	start   int64
	groups  map[string]*group // durable groups by name
	readers map[*group]struct{}
	// changed is closed and replaced whenever something a waiter may wait
	// for happens: new messages, settled messages, members leaving.
	changed chan struct{}
	waiters int
}

func newTopicLog(name string, retention int) *topicLog {
	return &topicLog{
		name:      name,
		retention: retention,
		groups:    make(map[string]*group),
		readers:   make(map[*group]struct{}),
		changed:   make(chan struct{}),
	}
}

func (t *topicLog) end() int64 { return t.start + int64(len(t.entries)) }

func (t *topicLog) at(offset int64) *driver.Message { return &t.entries[offset-t.start] }

// notify wakes every waiter; t.mu is held.
func (t *topicLog) notify() {
	if t.waiters > 0 {
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// wait releases t.mu until something changes, timeout passes (when
// positive) or ctx is done, and takes it again.
func (t *topicLog) wait(ctx context.Context, timeout time.Duration) error {
	changed := t.changed
	t.waiters++
	t.mu.Unlock()
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	var err error
	select {
	case <-changed:
	case <-expired:
	case <-ctx.Done():
		err = ctx.Err()
	}
	t.mu.Lock()
	t.waiters--
	return err
}

// append adds msgs, copied, waiting for room when retention is reached.
func (t *topicLog) append(ctx context.Context, msgs []driver.Message) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, m := range msgs {
		for len(t.entries) >= t.retention && !t.evict() {
			if err := t.wait(ctx, 0); err != nil {
				errs := make(driver.MessageErrors, len(msgs))
				for j := i; j < len(msgs); j++ {
					errs[j] = fmt.Errorf("%w: topic %q holds %d messages not yet acknowledged by every group: %w",
						ErrFull, t.name, t.retention, err)
				}
				t.notify()
				return errs
			}
		}
		m.Payload = bytes.Clone(m.Payload)
		m.Header = maps.Clone(m.Header)
		t.entries = append(t.entries, m)
	}
	t.notify()
	return nil
}

// evict drops the messages every group is done with and reports whether
// it made room.
func (t *topicLog) evict() bool {
	low := t.end()
	for _, g := range t.groups {
		low = min(low, g.lowWater())
	}
	for g := range t.readers {
		low = min(low, g.lowWater())
	}
	n := int(low - t.start)
	if n == 0 {
		return false
	}
	clear(t.entries[:n])
	t.entries = t.entries[n:]
	t.start = low
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
			inFlight: make(map[int64]flight),
			busy:     make(map[string]busyKey),
			waiting:  make(map[string]int),
			members:  make(map[*member]struct{}),
		}
		if name == "" {
			g.cursor = t.end()
			t.readers[g] = struct{}{}
		} else {
			t.groups[name] = g
		}
	}
	m := &member{group: g, skipped: make(map[string]bool)}
	g.members[m] = struct{}{}
	return m
}
