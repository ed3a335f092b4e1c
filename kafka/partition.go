package kafka

import (
	"sort"
	"time"
)

// partition is one assigned partition of a subscription: which offsets are
// out with bus, the contiguous acked run to commit, and a pending rewind.
// A new assignment of the same partition gets a new partition value, so a
// handler that finishes after its partition was revoked touches nothing.
type partition struct {
	id int32

	// gen counts rewinds; deliveries of an older gen settle into nothing,
	// since their offsets are delivered again.
	gen       uint32
	withdrawn chan struct{} // closed on revoke and on rewind
	revoked   bool          // no more deliveries or rewinds
	gone      bool          // settling changes nothing any more
	pending   []pendingOffset
	unsettled int // deliveries of the current gen not yet settled

	next      int64 // the offset after the last one queued; -1 unknown
	store     int64 // the offset to commit: all before it are acked; -1 none
	stored    int64 // store as last handed to librdkafka
	committed int64 // stored as last committed by this subscription

	rewindTo    int64 // -1, or the offset to seek to at rewindAt
	rewindAt    time.Time
	paused      bool          // by poll, for backpressure or a rewind
	redelivered map[int64]int // offset → times it was delivered again
}

type pendingOffset struct {
	offset int64
	acked  bool
}

// handle is a delivery's Handle.
type handle struct {
	p      *partition
	offset int64
	gen    uint32
}

func newPartition(id int32) *partition {
	return &partition{
		id:          id,
		withdrawn:   make(chan struct{}),
		next:        -1,
		store:       -1,
		stored:      -1,
		committed:   -1,
		rewindTo:    -1,
		redelivered: make(map[int64]int),
	}
}

// track records a delivery handed to bus; offsets arrive in order.
func (p *partition) track(offset int64) {
	p.pending = append(p.pending, pendingOffset{offset: offset})
	p.unsettled++
}

// settle records an ack or nack and reports whether it was for a delivery
// of the current gen. An ack extends the contiguous acked run.
func (p *partition) settle(h *handle, ack bool) bool {
	if p.gone || h.gen != p.gen {
		return false
	}
	i := sort.Search(len(p.pending), func(i int) bool { return p.pending[i].offset >= h.offset })
	if i == len(p.pending) || p.pending[i].offset != h.offset {
		return false
	}
	p.unsettled--
	if !ack {
		return true
	}
	p.pending[i].acked = true
	n := 0
	for n < len(p.pending) && p.pending[n].acked {
		delete(p.redelivered, p.pending[n].offset)
		n++
	}
	if n > 0 {
		p.store = p.pending[n-1].offset + 1
		p.pending = p.pending[n:]
	}
	return true
}

// rewind withdraws everything delivered from the oldest unacked offset on
// and schedules a seek there at at.
func (p *partition) rewind(at time.Time) {
	if p.rewindTo >= 0 || len(p.pending) == 0 {
		return
	}
	p.rewindTo, p.rewindAt = p.pending[0].offset, at
	for _, po := range p.pending {
		p.redelivered[po.offset]++
	}
	p.pending = p.pending[:0]
	close(p.withdrawn)
	p.withdrawn = make(chan struct{})
	p.gen++
	p.unsettled = 0
}
