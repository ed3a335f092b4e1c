package memory

import (
	"slices"
	"time"
)

// Delayed delivery is native: a message whose DeliverAt is later than now
// when the group's cursor reaches it waits in the group's delayed list,
// holding back nothing else, and joins pending, where its key's order
// applies, once it is due. It keeps its place in the log meanwhile, so it
// counts toward retention until the group acks it.

// clock reads the time once, when first asked: most messages carry no
// delay and most scans need no time at all.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time {
	if c.now.IsZero() {
		c.now = time.Now()
	}
	return c.now
}

// delay puts the message at offset, just taken by the cursor, in the
// delayed list when it is not due yet, and reports whether it did.
// t.mu and g.mu are held.
func (g *group) delay(offset int64, c *clock) bool {
	at := g.topic.at(offset).DeliverAt
	if at.IsZero() || !at.After(c.Now()) {
		return false
	}
	i, _ := slices.BinarySearchFunc(g.delayed, at, func(e pendingEntry, at time.Time) int { return e.readyAt.Compare(at) })
	for i < len(g.delayed) && g.delayed[i].readyAt.Equal(at) {
		i++ // after those due at the same time: publish order
	}
	g.delayed = slices.Insert(g.delayed, i, pendingEntry{offset: offset, readyAt: at, attempt: 1})
	return true
}

// releaseDue moves the delayed messages that are due to pending. t.mu and
// g.mu are held.
func (g *group) releaseDue(c *clock) {
	if len(g.delayed) == 0 {
		return
	}
	n := 0
	for n < len(g.delayed) && !g.delayed[n].readyAt.After(c.Now()) {
		e := g.delayed[n]
		e.readyAt = time.Time{}
		g.addPending(e, g.topic.at(e.offset).Key)
		n++
	}
	g.delayed = slices.Delete(g.delayed, 0, n)
}

// dueFirst returns the earlier of due and the time the first delayed
// message is due; a zero time counts as none. g.mu is held.
func (g *group) dueFirst(due time.Time) time.Time {
	if len(g.delayed) > 0 && (due.IsZero() || g.delayed[0].readyAt.Before(due)) {
		return g.delayed[0].readyAt
	}
	return due
}
