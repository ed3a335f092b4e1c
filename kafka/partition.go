package kafka

import (
	"math"
	"slices"
	"sort"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/internal/fifo"
)

// partition is one assigned partition of a subscription. Its offset
// cursors move forward only:
//
//		committed ≤ stored ≤ store ≤ next
//
//	  - next: the offset after the last one polled; -1 before the first.
//	  - store: everything before it is acked, so it is the offset to commit;
//	    -1 before the first poll.
//	  - stored: store as last handed to librdkafka, which commits it.
//	  - committed: what this subscription last committed itself.
//
// Offsets acked beyond store (a failing key holds store back while other
// keys go on) travel in the commit's metadata, so the partition's next
// owner skips them instead of handling them again; skip holds those the
// previous owner left. A new assignment of the same partition gets a new
// partition value, so a handler that finishes after its partition was
// revoked touches nothing.
type partition struct {
	id int32

	withdrawn chan struct{} // closed on revoke, and on restart after an aborted transaction
	revoked   bool          // no more deliveries
	gone      bool          // settling changes nothing any more

	pending   fifo.Queue[pendingOffset] // polled offsets from store on, in order
	unsettled int                       // delivered offsets not settled yet
	attempts  map[int64]int             // offset → times nacked, for Attempt
	skip      []int64                   // acked by the previous owner beyond its commit, ascending

	next, store, stored, committed int64
	storedMetadata                 string // the metadata handed over with stored

	paused  bool // by poll, for backpressure, or while loading
	loading bool // the previous owner's acked offsets are being read

	// Transactional subscriptions (tx.go): a partition whose transaction
	// aborted is replaced by a new one that restarts at the commit.
	aborted    bool          // its acks' outputs are discarded, not committed
	idle       chan struct{} // when set, closed once revoked and all settled
	restarting bool          // to seek to seekTo once loaded; polled messages are dropped
	seekTo     int64
}

// pendingOffset is a polled offset not yet part of the committed prefix.
type pendingOffset struct {
	offset int64
	acked  bool
	out    bool // delivered to bus and not settled yet
}

// delivered is the partition and offset of a delivery: its Receipt's
// Handle is the partition, and its Native record holds the offset, so a
// delivery costs no allocation of its own.
func delivered(r *driver.Receipt) (*partition, int64) {
	return r.Handle.(*partition), int64(r.Native.(*kafka.Message).TopicPartition.Offset)
}

func newPartition(id int32) *partition {
	return &partition{
		id:        id,
		withdrawn: make(chan struct{}),
		attempts:  make(map[int64]int),
		next:      -1,
		store:     -1,
		stored:    -1,
		committed: -1,
	}
}

// resume sets where the previous owner left off: offsets acked beyond its
// commit, read from the commit's metadata. Offsets polled already were
// delivered; only later ones can still be skipped.
func (p *partition) resume(committed int64, metadata string) {
	if acked, ok := decodeAcked(committed, metadata); ok {
		p.skip = slices.DeleteFunc(acked, func(o int64) bool { return o < p.next })
	}
}

// poll records a polled offset and reports whether it is to be delivered
// (see handOut):
// an offset the previous owner acked already counts as acked here too.
func (p *partition) poll(offset int64) bool {
	if p.store < 0 {
		p.store = offset // where this owner starts: all before is done
	}
	p.next = offset + 1
	for len(p.skip) > 0 && p.skip[0] < offset {
		p.skip = p.skip[1:] // gone from the log, e.g. compacted away
	}
	if len(p.skip) > 0 && p.skip[0] == offset {
		p.skip = p.skip[1:]
		p.pending.Push(pendingOffset{offset: offset, acked: true})
		p.advance()
		return false
	}
	p.pending.Push(pendingOffset{offset: offset})
	return true
}

// handOut marks a polled or nacked offset as delivered to bus.
func (p *partition) handOut(offset int64) {
	if po := p.find(offset); po != nil && !po.out && !po.acked {
		po.out = true
		p.unsettled++
	}
}

// find returns offset's entry in pending, or nil.
func (p *partition) find(offset int64) *pendingOffset {
	pending := p.pending.Items()
	i := sort.Search(len(pending), func(i int) bool { return pending[i].offset >= offset })
	if i < len(pending) && pending[i].offset == offset {
		return &pending[i]
	}
	return nil
}

// settle records an ack or nack of a delivered offset and reports whether
// the delivery was still out. An ack may extend the acked prefix.
func (p *partition) settle(offset int64, ack bool) bool {
	if p.gone {
		return false
	}
	po := p.find(offset)
	if po == nil || !po.out {
		return false
	}
	po.out = false
	p.unsettled--
	if !ack {
		p.attempts[offset]++
		return true
	}
	po.acked = true
	if len(p.attempts) > 0 {
		delete(p.attempts, offset)
	}
	p.advance()
	return true
}

// advance moves store past the acked prefix of pending.
func (p *partition) advance() {
	pending := p.pending.Items()
	n := 0
	for n < len(pending) && pending[n].acked {
		n++
	}
	if n > 0 {
		p.store = pending[n-1].offset + 1
		p.pending.Drop(n)
	}
}

// ackedBeyondStore lists the offsets acked beyond store: this owner's,
// then those it skips.
func (p *partition) ackedBeyondStore() []int64 {
	var acked []int64
	for _, po := range p.pending.Items() {
		if po.acked {
			acked = append(acked, po.offset)
		}
	}
	return append(acked, p.skip...)
}

// commitMetadata lists the offsets acked beyond store, this owner's and
// those it skips, for the next owner. Offsets from uncovered on did not
// fit in it (math.MaxInt64 when all did).
func (p *partition) commitMetadata() (metadata string, uncovered int64) {
	acked := p.ackedBeyondStore()
	metadata, n := encodeAcked(p.store, acked)
	if n < len(acked) {
		return metadata, acked[n]
	}
	return metadata, math.MaxInt64
}
