package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"testing"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

func TestGroupProtocolFollowsTheBroker(t *testing.T) {
	addr := testbroker.Kafka(t)
	mock, err := confluent.NewMockCluster(1)
	require.NoError(t, err)
	defer mock.Close()
	for _, tt := range []struct {
		name, url, want string
	}{
		{"Kafka 4 offers KIP-848", "kafka://" + addr, "consumer"},
		{"the parameter wins", "kafka://" + addr + "?group_protocol=classic", "classic"},
		{"a broker that does not say", "kafka://" + mock.BootstrapServers(), "classic"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			require.NoError(t, err)
			c, err := open(t.Context(), driver.OpenConfig{URL: u, Logger: slog.Default()})
			require.NoError(t, err)
			defer c.Close(context.Background())
			assert.Equal(t, tt.want, c.(*conn).chooseGroupProtocol(t.Context()))
		})
	}
}

func TestConsumerConfigPerGroupProtocol(t *testing.T) {
	c, err := parseConfig(driver.OpenConfig{URL: &url.URL{Scheme: "kafka", Host: "h:9092"}})
	require.NoError(t, err)
	classic := *c.consumerConfig("g", "classic", false)
	assert.Equal(t, "cooperative-sticky", classic["partition.assignment.strategy"])
	assert.Equal(t, 10000, classic["session.timeout.ms"], "fast failover by default")
	assert.NotContains(t, classic, "group.protocol")

	next := *c.consumerConfig("g", "consumer", false)
	assert.Equal(t, "consumer", next["group.protocol"])
	for _, key := range []string{"partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms"} {
		assert.NotContains(t, next, key, "the broker owns %s under KIP-848", key)
	}
}

// TestIsRetriable checks that a partition's leader-epoch error, which
// carries no retriable flag in a ListOffsets result, counts as passing.
func TestIsRetriable(t *testing.T) {
	for code, want := range map[confluent.ErrorCode]bool{
		confluent.ErrUnknownLeaderEpoch:       true,
		confluent.ErrFencedLeaderEpoch:        true,
		confluent.ErrLeaderNotAvailable:       true,
		confluent.ErrTopicAuthorizationFailed: false,
	} {
		err := fmt.Errorf("end offset of partition 0: %w", confluent.NewError(code, "", false))
		assert.Equal(t, want, isRetriable(err), "%v", code)
	}
}
