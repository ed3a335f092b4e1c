package kafka_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
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
	b := be.open(t)
	in, out := be.topic(t, 1), be.topic(t, 1)
	small := be.topic(t, 1)
	setTopicConfig(t, addr, small, "max.message.bytes", "1024")

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
	raw := be.open(t, "isolation=read_uncommitted")
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

func setTopicConfig(t *testing.T, servers, topic, name, value string) {
	t.Helper()
	admin, err := confluent.NewAdminClient(&confluent.ConfigMap{"bootstrap.servers": servers})
	require.NoError(t, err)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := admin.IncrementalAlterConfigs(ctx, []confluent.ConfigResource{{
		Type: confluent.ResourceTopic, Name: topic,
		Config: []confluent.ConfigEntry{{Name: name, Value: value, IncrementalOperation: confluent.AlterConfigOpTypeSet}},
	}})
	require.NoError(t, err)
	require.Equal(t, confluent.ErrNoError, res[0].Error.Code(), "%v", res[0].Error)
}
