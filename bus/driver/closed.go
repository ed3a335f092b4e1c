package driver

import "sync/atomic"

// CloseFlag is the closed state of a connection or subscription: set once
// by Close, read from any goroutine. The zero value is open.
type CloseFlag struct{ closed atomic.Bool }

// Close marks the flag closed and reports whether this call did: only the
// first Close returns true, so the caller that gets true releases what it
// holds and every later Close does nothing.
func (f *CloseFlag) Close() bool { return f.closed.CompareAndSwap(false, true) }

// IsClosed reports whether Close was called.
func (f *CloseFlag) IsClosed() bool { return f.closed.Load() }

// Closed reports whether ch is closed, without waiting: the "has this
// happened yet" question asked of a done, ready or withdrawn channel. A
// nil channel is never closed.
func Closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
