package interop

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/middleware"
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

// waitTimeout bounds every wait on a broker or a tool.
const waitTimeout = time.Minute

type order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

// uniqueName is a topic or group name no other test uses.
func uniqueName(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:12])
}

// openBus opens url and closes the bus when the test ends.
func openBus(t *testing.T, url string, opts ...bus.OpenOption) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	b, err := bus.Open(ctx, url, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		require.NoError(t, b.Close(ctx))
	})
	return b
}

// kafkaURL is the eventbus URL of the test Kafka broker; topics it needs are
// created with one partition, so other clients can read them in order.
func kafkaURL(addr string) string {
	return "kafka://" + addr + "?create_topics=true&partitions=1&replication_factor=1"
}

// createKafkaTopic creates a one-partition topic.
func createKafkaTopic(t *testing.T, addr, topic string) {
	t.Helper()
	admin, err := confluent.NewAdminClient(&confluent.ConfigMap{"bootstrap.servers": addr})
	require.NoError(t, err)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	res, err := admin.CreateTopics(ctx, []confluent.TopicSpecification{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}},
		confluent.SetAdminOperationTimeout(30*time.Second))
	require.NoError(t, err)
	require.Equal(t, confluent.ErrNoError, res[0].Error.Code(), "create topic %s: %v", topic, res[0].Error)
}

// inbox collects what a handler received.
type inbox struct {
	mu   sync.Mutex
	msgs []*bus.Message
	more chan struct{}
}

func newInbox() *inbox { return &inbox{more: make(chan struct{}, 1)} }

func (in *inbox) handle(_ context.Context, m *bus.Message) error {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
	select {
	case in.more <- struct{}{}:
	default:
	}
	return nil
}

// await returns the first n messages, failing the test after waitTimeout.
func (in *inbox) await(t *testing.T, n int) []*bus.Message {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		in.mu.Lock()
		if len(in.msgs) >= n {
			got := append([]*bus.Message(nil), in.msgs[:n]...)
			in.mu.Unlock()
			return got
		}
		have := len(in.msgs)
		in.mu.Unlock()
		select {
		case <-in.more:
		case <-deadline:
			require.FailNowf(t, "timed out", "received %d of %d messages", have, n)
		}
	}
}

// subscribe subscribes h to topic in a new group until the test ends.
func subscribe(t *testing.T, b *bus.Bus, topic string, h bus.Handler, opts ...bus.SubscribeOption) {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), topic, h, append([]bus.SubscribeOption{bus.Group(uniqueName("group"))}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		require.NoError(t, sub.Close(ctx))
	})
}

// memoryDedup is the Dedup middleware on an in-memory store.
func memoryDedup(t *testing.T) bus.Middleware {
	t.Helper()
	mw, err := middleware.Dedup(middleware.NewMemoryStore())
	require.NoError(t, err)
	return mw
}
