package bustest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heldHandler stands for a handler that runs until it is released.
type heldHandler struct {
	release chan struct{}
	done    chan struct{}
}

func newHeldHandler() *heldHandler {
	h := &heldHandler{release: make(chan struct{}), done: make(chan struct{})}
	go func() {
		<-h.release
		close(h.done)
	}()
	return h
}

func (h *heldHandler) releaseFn() func() { return func() { close(h.release) } }

// TestCloseWaitsFailsOnACloseThatDoesNotWait proves the check behind
// ShutdownWaitsForHandlers can fail: a Close that returns while its
// handler runs is reported, and one that waits for it passes.
func TestCloseWaitsFailsOnACloseThatDoesNotWait(t *testing.T) {
	t.Run("Close returns at once", func(t *testing.T) {
		h := newHeldHandler()
		var begun atomic.Bool
		broken := func() error {
			begun.Store(true)
			return nil
		}
		err := closeWaits(broken, begun.Load, h.releaseFn(), h.done, 10*time.Second)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "while a handler was running")
	})
	t.Run("Close returns before it is seen to begin", func(t *testing.T) {
		h := newHeldHandler()
		broken := func() error { return nil }
		never := func() bool { return false }
		err := closeWaits(broken, never, h.releaseFn(), h.done, 10*time.Second)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "while a handler was running")
	})
	t.Run("Close waits", func(t *testing.T) {
		h := newHeldHandler()
		var begun atomic.Bool
		waiting := func() error {
			begun.Store(true)
			<-h.done
			return nil
		}
		require.NoError(t, closeWaits(waiting, begun.Load, h.releaseFn(), h.done, 10*time.Second))
	})
}
