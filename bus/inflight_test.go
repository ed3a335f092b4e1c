package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/memory"
)

// A subscription whose in-flight bound is reached fetches in batches while
// its workers are busy, but a freed slot does not stay unused while a
// worker has nothing to run.
func TestFreedSlotFeedsAnIdleWorker(t *testing.T) {
	ctx := context.Background()
	b := memBus(t, newBroker(t, memory.Options{}))
	defer b.Close(ctx)

	started := make(chan string, 8)
	a1, a2 := make(chan struct{}), make(chan struct{})
	gates := map[string]chan struct{}{"a1": a1, "a2": a2}
	open := func(gate chan struct{}) {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}
	defer open(a2) // before Close, should the test fail
	defer open(a1)
	_, err := b.Subscribe(ctx, "slots", func(_ context.Context, m *bus.Message) error {
		id := string(m.Payload)
		started <- id
		if gate := gates[id]; gate != nil {
			<-gate
		}
		return nil
	}, bus.Concurrency(2), bus.MaxInFlight(4))
	require.NoError(t, err)

	// a1 runs and holds a2 to a4 behind it: every slot is taken.
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		require.NoError(t, b.Publish(ctx, "slots", &bus.Message{Key: "a", Payload: []byte(id)}))
	}
	require.Equal(t, "a1", waitStarted(t, started))
	require.NoError(t, b.Publish(ctx, "slots", &bus.Message{Key: "b", Payload: []byte("b1")}))

	// a1 ends and frees one slot, less than a batch; a2 runs and holds
	// one worker, the other has nothing to run: b1 must get the slot.
	open(a1)
	got := []string{waitStarted(t, started), waitStarted(t, started)}
	require.ElementsMatch(t, []string{"a2", "b1"}, got)

	open(a2)
	require.Equal(t, "a3", waitStarted(t, started))
	require.Equal(t, "a4", waitStarted(t, started))
}

func waitStarted(t *testing.T, started <-chan string) string {
	t.Helper()
	select {
	case id := <-started:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("no handler started within 10s")
		return ""
	}
}
