// Package fifo provides a first-in, first-out queue on one array, for the
// drivers' per-message bookkeeping.
package fifo

import "slices"

// Queue is a first-in, first-out queue on one array. Dropping from the
// front only moves its head; Push moves the items down to the array's
// start when that frees at least half of it, and grows the array
// otherwise. So a queue that keeps about the same length allocates
// nothing however many items pass through it, where a slice resliced from
// the front needs a new array each time append runs out of room. The zero
// value is an empty queue.
type Queue[T any] struct {
	buf  []T // the items are buf[head:]
	head int
}

// Items returns the items, oldest first. Setting one sets the queue's;
// the slice is valid until the next call of another method.
func (q *Queue[T]) Items() []T { return q.buf[q.head:] }

// Len returns the number of items.
func (q *Queue[T]) Len() int { return len(q.buf) - q.head }

// Push adds v at the back.
func (q *Queue[T]) Push(v T) {
	if len(q.buf) == cap(q.buf) && q.head > 0 && q.head >= len(q.buf)/2 {
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, v)
}

// Drop removes the n oldest items; n must not exceed Len.
func (q *Queue[T]) Drop(n int) {
	clear(q.buf[q.head : q.head+n]) // what they point to is garbage now
	q.head += n
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	}
}

// DeleteFunc removes the items for which del returns true and keeps the
// others in order.
func (q *Queue[T]) DeleteFunc(del func(T) bool) {
	kept := slices.DeleteFunc(q.Items(), del)
	q.buf = q.buf[:q.head+len(kept)]
	if len(kept) == 0 {
		q.buf, q.head = q.buf[:0], 0
	}
}

// Reset empties the queue and lets its array go.
func (q *Queue[T]) Reset() { *q = Queue[T]{} }
