package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/internal/fifo"
)

// group is a consumer group's state on one topic. It outlives its members,
// so a new member resumes where the last one stopped.
//
// Locking: mu guards the group's state. Whoever holds it holds the topic's
// t.mu too, taken first, except Ack, which takes mu alone: a worker
// acknowledging a message does not wait for the topic's publishers, nor
// they for it. The state therefore never reads the topic's log for an
// Ack: an in-flight message's key is kept in its flight.
//
// Per-key order across competing members: a key whose messages are in
// flight at one member is busy, and its further messages go to that member
// only; a message that cannot be handed out yet waits in pending, where
// messages of a key always stay in offset order. A lone member has every
// key to itself: busy is kept only while the group has competing members,
// and made from what is in flight when a second member joins.
type group struct {
	topic *topicLog
	name  string

	mu     sync.Mutex
	cursor int64 // next offset never handed out
	// window.Items()[i] is offset low+i, below cursor; low is the lowest
	// offset the group may still need. An array rather than a map of the
	// messages in flight: the offsets between low and cursor are
	// contiguous, and dropping the map's insert, lookup and delete cut
	// a message's CPU by a tenth. It holds at most the topic's retention.
	window fifo.Queue[offsetState]
	low    int64

	pending []pendingEntry // sorted by offset
	delayed []pendingEntry // not due yet, sorted by readyAt; see delay.go
	waiting map[string]int // pending messages per key
	busy    map[string]busyKey
	members map[*member]struct{}
}

// offsetState is where one offset of a group's window is: acked for good,
// in flight at a member, or neither, waiting to be handed out again.
type offsetState struct {
	flight       // member is nil unless the offset is in flight
	settled bool // acked
}

type pendingEntry struct {
	offset  int64
	readyAt time.Time
	attempt int
}

type flight struct {
	member  *member
	key     string
	attempt int
}

type busyKey struct {
	member   *member
	inFlight int
}

// lowWater is the lowest offset the group may still need. t.mu is held.
func (g *group) lowWater() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.low
}

// advance takes the cursor's next offset.
func (g *group) advance() int64 {
	g.window.Push(offsetState{})
	g.cursor++
	return g.cursor - 1
}

// state is offset's place in the window, or nil when it is outside.
func (g *group) state(offset int64) *offsetState {
	if offset < g.low || offset >= g.cursor {
		return nil
	}
	return &g.window.Items()[offset-g.low]
}

// inFlight calls f for each offset in flight, in ascending order.
func (g *group) inFlight(f func(offset int64, fl flight)) {
	for i, st := range g.window.Items() {
		if st.member != nil {
			f(g.low+int64(i), st.flight)
		}
	}
}

// acked settles offset for good and moves low past the settled prefix.
func (g *group) acked(offset int64) {
	g.state(offset).settled = true
	window := g.window.Items()
	n := 0
	for n < len(window) && window[n].settled {
		n++
	}
	g.window.Drop(n)
	g.low += int64(n)
}

func (g *group) addPending(e pendingEntry, key string) {
	i, _ := slices.BinarySearchFunc(g.pending, e.offset, func(p pendingEntry, o int64) int { return int(p.offset - o) })
	g.pending = slices.Insert(g.pending, i, e)
	if key != "" {
		g.waiting[key]++
	}
}

// member is one subscription in a group.
type member struct {
	group   *group
	stopped bool            // StopReceiving was called: Receive returns ErrClosed; t.mu guards it
	closed  bool            // t.mu and group.mu guard it
	skipped map[string]bool // keys passed over in the current pending scan
	wake    chan struct{}
}

// Receive hands out pending messages that are due, then new ones, keeping
// per-key order; it waits when there are none.
func (m *member) Receive(ctx context.Context, batch []driver.Delivery) (int, error) {
	t := m.group.topic
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if m.stopped || m.closed {
			return 0, driver.ErrClosed
		}
		m.group.mu.Lock()
		n, nextDue := m.fill(batch)
		m.group.mu.Unlock()
		if n > 0 {
			return n, nil
		}
		var timeout time.Duration
		if !nextDue.IsZero() {
			timeout = max(time.Until(nextDue), time.Millisecond)
		}
		if err := t.wait(ctx, &t.consumers, m.wake, timeout); err != nil {
			return 0, err
		}
	}
}

// fill takes messages for m; t.mu and g.mu are held. It returns how many
// it took and when the earliest pending message it could not take yet
// becomes due.
func (m *member) fill(batch []driver.Delivery) (n int, nextDue time.Time) {
	g, t := m.group, m.group.topic
	passedOver := false
	var now clock
	g.releaseDue(&now)
	if len(g.pending) > 0 {
		clear(m.skipped)
		for i := 0; i < len(g.pending) && n < len(batch); {
			e := g.pending[i]
			key := t.at(e.offset).Key
			switch {
			case key != "" && (m.skipped[key] || m.busyElsewhere(key)):
				m.skipped[key] = true
			case !e.readyAt.IsZero() && e.readyAt.After(now.Now()):
				if nextDue.IsZero() || e.readyAt.Before(nextDue) {
					nextDue = e.readyAt
				}
				if key != "" {
					m.skipped[key] = true
				}
			default:
				g.pending = slices.Delete(g.pending, i, i+1)
				if key != "" {
					if g.waiting[key]--; g.waiting[key] == 0 {
						delete(g.waiting, key)
					}
				}
				m.handOut(&batch[n], e.offset, e.attempt)
				n++
				continue
			}
			i++
		}
	}
	for n < len(batch) && g.cursor < t.end() {
		offset := g.advance()
		if g.delay(offset, &now) {
			continue
		}
		if key := t.at(offset).Key; key != "" && (g.waiting[key] > 0 || m.busyElsewhere(key)) {
			// Another member holds the key: leave the message to it.
			g.addPending(pendingEntry{offset: offset, attempt: 1}, key)
			passedOver = true
			continue
		}
		m.handOut(&batch[n], offset, 1)
		n++
	}
	if passedOver {
		t.consumers.wake()
	}
	return n, g.dueFirst(nextDue)
}

// competing reports whether the group has more than one member, and so
// keeps busy.
func (g *group) competing() bool { return len(g.members) > 1 }

// addMember adds m to the group. Once it has competing members, the keys in
// flight are busy at the member that holds them.
func (g *group) addMember(m *member) {
	g.members[m] = struct{}{}
	if len(g.members) == 2 {
		clear(g.busy)
		g.inFlight(func(_ int64, f flight) { g.markBusy(f.key, f.member) })
	}
}

// markBusy notes one more message of key in flight at m.
func (g *group) markBusy(key string, m *member) {
	if key != "" && g.competing() {
		b := g.busy[key]
		b.member = m
		b.inFlight++
		g.busy[key] = b
	}
}

func (m *member) busyElsewhere(key string) bool {
	if !m.group.competing() {
		return false
	}
	b, ok := m.group.busy[key]
	return ok && b.member != m
}

func (m *member) handOut(d *driver.Delivery, offset int64, attempt int) {
	g := m.group
	msg := g.topic.at(offset)
	g.state(offset).flight = flight{member: m, key: msg.Key, attempt: attempt}
	g.markBusy(msg.Key, m)
	*d = driver.Delivery{Message: *msg, Receipt: driver.Receipt{Attempt: attempt, Partition: -1, Offset: offset}}
}

// release forgets an in-flight message of m; g.mu is held.
func (m *member) release(offset int64) (flight, bool) {
	g := m.group
	st := g.state(offset)
	if st == nil || st.member != m {
		return flight{}, false
	}
	f := st.flight
	st.flight = flight{}
	if key := f.key; key != "" && g.competing() {
		if b := g.busy[key]; b.inFlight > 1 {
			b.inFlight--
			g.busy[key] = b
		} else {
			delete(g.busy, key)
		}
	}
	return f, true
}

// Ack takes g.mu only, and t.mu after it only to wake waiters.
func (m *member) Ack(r *driver.Receipt) error {
	g, t := m.group, m.group.topic
	g.mu.Lock()
	if _, ok := m.release(r.Offset); !ok {
		g.mu.Unlock()
		return nil // given back at Close; the group redelivers it
	}
	low := g.low
	g.acked(r.Offset)
	// Wake publishers waiting for room once per chunk of acks, not for
	// each, and subscriptions only when a released key may let pending
	// messages go. A waiter registered under t.mu after reading the
	// group's state, so it either saw this ack or is woken now.
	chunk := max(1, int64(t.retention/64))
	wakeProducers := g.low/chunk != low/chunk
	wakeConsumers := len(g.pending) > 0
	g.mu.Unlock()
	if wakeProducers || wakeConsumers {
		t.mu.Lock()
		if wakeProducers {
			t.producers.wake()
		}
		if wakeConsumers {
			t.consumers.wake()
		}
		t.mu.Unlock()
	}
	return nil
}

func (m *member) Nack(r *driver.Receipt, delay time.Duration) error {
	t := m.group.topic
	t.mu.Lock()
	defer t.mu.Unlock()
	m.group.mu.Lock()
	defer m.group.mu.Unlock()
	f, ok := m.release(r.Offset)
	if !ok {
		return nil // given back at Close; the group redelivers it
	}
	readyAt := time.Now().Add(delay)
	if m.stopped {
		readyAt = time.Time{} // for the group's next member, at once
	}
	m.group.addPending(pendingEntry{offset: r.Offset, readyAt: readyAt, attempt: f.attempt + 1}, t.at(r.Offset).Key)
	t.consumers.wake()
	return nil
}

// StopReceiving implements driver.Subscription.
func (m *member) StopReceiving() {
	t := m.group.topic
	t.mu.Lock()
	defer t.mu.Unlock()
	m.stopped = true
	t.consumers.wake()
}

// Close hands m's unsettled messages back to the group for redelivery. An
// ephemeral group ends with its last member.
func (m *member) Close(context.Context) error {
	g, t := m.group, m.group.topic
	t.mu.Lock()
	defer t.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	g.inFlight(func(offset int64, f flight) {
		if f.member == m {
			m.release(offset)
			g.addPending(pendingEntry{offset: offset, attempt: f.attempt + 1}, t.at(offset).Key)
		}
	})
	delete(g.members, m)
	if g.name == "" && len(g.members) == 0 {
		delete(t.readers, g)
		t.producers.wake()
	}
	t.consumers.wake()
	return nil
}
