package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// TestTransactionAbortedOutputsAreNeverVisible makes a handler's first run
// publish one output the broker takes and one it refuses (too large for
// its topic), so the transaction aborts. The message runs again and
// publishes a second output. A read_committed reader sees only the second;
// a read_uncommitted reader shows that the first was written, and aborted.
func TestTransactionAbortedOutputsAreNeverVisible(t *testing.T) {
	addr := testbroker.Kafka(t)
	be := realBackend(t)
	b := be.open(t, "create_topics=true") // waits for the fresh topics' metadata
	in, out := be.topic(t, 1), be.topic(t, 1)
	// Set at creation: a later config change reaches the log only
	// eventually.
	small := fmt.Sprintf("eventbus-test-small-%d-%d", time.Now().UnixNano(), topicSeq.Add(1))
	createRealTopic(t, addr, small, 1, "1024")

	var runs atomic.Int32
	_, err := b.Subscribe(t.Context(), in, func(ctx context.Context, m *bus.Message) error {
		if runs.Add(1) == 1 {
			if err := b.Publish(ctx, out, &bus.Message{Payload: []byte("first run")}); err != nil {
				return err
			}
			return b.Publish(ctx, small, &bus.Message{Payload: bytes.Repeat([]byte("x"), 2048)})
		}
		return b.Publish(ctx, out, &bus.Message{Payload: []byte("second run")})
	}, bus.Group("tx-"+in), bus.Transactional())
	require.NoError(t, err)
	require.NoError(t, b.Publish(t.Context(), in, &bus.Message{Payload: []byte("input")}))

	committed, uncommitted := newCollector(10), newCollector(10)
	_, err = b.Subscribe(t.Context(), out, committed.handle, bus.Group("committed-"+out))
	require.NoError(t, err)
	raw := be.open(t, "create_topics=true", "isolation=read_uncommitted")
	_, err = raw.Subscribe(t.Context(), out, uncommitted.handle, bus.Group("uncommitted-"+out))
	require.NoError(t, err)

	// One partition: reading the second output means the first was passed.
	got := committed.await(t, 1, time.Minute)
	assert.Equal(t, "second run", string(got[0].Payload), "read_committed never sees the aborted output")
	all := uncommitted.await(t, 2, time.Minute)
	assert.Equal(t, []string{"first run", "second run"}, []string{string(all[0].Payload), string(all[1].Payload)},
		"the aborted output was written, then the committed one")
	assert.Equal(t, int32(2), runs.Load(), "the message ran again after the abort")
}
