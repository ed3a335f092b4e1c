package kafka_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

var topicSeq atomic.Int64

// backend is a Kafka cluster under test: the mock cluster or a real broker.
type backend struct {
	url         string
	createTopic func(t testing.TB, name string, partitions int)
}

// open returns a bus closed at the end of the test.
func (b backend) open(t testing.TB, params ...string) *bus.Bus {
	t.Helper()
	eb := b.openUnclosed(t, params...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, eb.Close(ctx))
	})
	return eb
}

// openUnclosed returns a bus the caller closes.
func (b backend) openUnclosed(t testing.TB, params ...string) *bus.Bus {
	t.Helper()
	return b.openWith(t, nil, params...)
}

// openWith is openUnclosed with bus options.
func (b backend) openWith(t testing.TB, opts []bus.OpenOption, params ...string) *bus.Bus {
	t.Helper()
	u := b.withParams(params...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eb, err := bus.Open(ctx, u, opts...)
	require.NoError(t, err)
	return eb
}

// withParams is the backend's URL with params added.
func (b backend) withParams(params ...string) string {
	u := b.url
	if len(params) > 0 {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + strings.Join(params, "&")
	}
	return u
}

func (b backend) topic(t testing.TB, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("eventbus-test-%d-%d", time.Now().UnixNano(), topicSeq.Add(1))
	b.createTopic(t, name, partitions)
	return name
}

// mockBackend starts a librdkafka mock cluster for the test.
func mockBackend(t testing.TB) (backend, *confluent.MockCluster) {
	t.Helper()
	mc, err := confluent.NewMockCluster(1)
	require.NoError(t, err)
	t.Cleanup(mc.Close)
	return backend{
		// The mock keeps a member that left or lost its connection at an
		// awkward moment for a whole session timeout: keep that short.
		url: "kafka://" + mc.BootstrapServers() + "?session_timeout=6s",
		createTopic: func(t testing.TB, name string, partitions int) {
			require.NoError(t, mc.CreateTopic(name, partitions, 1))
		},
	}, mc
}

// envKafka is the real broker's address when one is configured.
func envKafka() string { return os.Getenv(testbroker.EnvKafka) }

// realBackend is the broker of EVENTBUS_TEST_KAFKA.
func realBackend(t testing.TB) backend {
	t.Helper()
	addr := testbroker.Kafka(t)
	return backend{url: "kafka://" + addr, createTopic: func(t testing.TB, name string, partitions int) {
		createRealTopic(t, addr, name, partitions)
	}}
}

// createRealTopic creates a topic on the real broker; maxMessageBytes, when
// given, is its max.message.bytes (4 MiB otherwise).
func createRealTopic(t testing.TB, servers, name string, partitions int, maxMessageBytes ...string) {
	t.Helper()
	limit := "4194304"
	if len(maxMessageBytes) > 0 {
		limit = maxMessageBytes[0]
	}
	admin, err := confluent.NewAdminClient(&confluent.ConfigMap{"bootstrap.servers": servers})
	require.NoError(t, err)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := admin.CreateTopics(ctx, []confluent.TopicSpecification{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1,
		Config: map[string]string{"max.message.bytes": limit},
	}}, confluent.SetAdminOperationTimeout(20*time.Second))
	require.NoError(t, err)
	require.Equal(t, confluent.ErrNoError, res[0].Error.Code(), "create topic %s: %v", name, res[0].Error)
	// CreateTopics returns once the controller made the topic; the broker
	// serves it a moment later. Wait until its metadata shows every
	// partition with a leader, as a topic a test did not just create would.
	for !topicReady(admin, name, partitions) {
		select {
		case <-ctx.Done():
			require.FailNowf(t, "topic not ready", "%s has no leader for each of its %d partitions after 30 s", name, partitions)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// topicReady tells whether the broker's metadata lists topic with its
// partitions, each with a leader.
func topicReady(admin *confluent.AdminClient, topic string, partitions int) bool {
	md, err := admin.GetMetadata(&topic, false, 5000)
	if err != nil {
		return false
	}
	tm, ok := md.Topics[topic]
	if !ok || tm.Error.Code() != confluent.ErrNoError || len(tm.Partitions) != partitions {
		return false
	}
	for _, p := range tm.Partitions {
		if p.Leader < 0 || p.Error.Code() != confluent.ErrNoError {
			return false
		}
	}
	return true
}

// collector records deliveries handed to a handler.
type collector struct {
	ch chan *bus.Message
}

func newCollector(n int) *collector { return &collector{ch: make(chan *bus.Message, n)} }

func (c *collector) handle(_ context.Context, m *bus.Message) error {
	c.ch <- m
	return nil
}

// await returns the next n messages or fails after timeout.
func (c *collector) await(t testing.TB, n int, timeout time.Duration) []*bus.Message {
	t.Helper()
	out := make([]*bus.Message, 0, n)
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case m := <-c.ch:
			out = append(out, m)
		case <-deadline:
			require.FailNowf(t, "timeout", "got %d of %d messages", len(out), n)
		}
	}
	return out
}

func TestMain(m *testing.M) {
	if os.Getenv("EVENTBUS_TEST_DEBUG") != "" {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	os.Exit(m.Run())
}
