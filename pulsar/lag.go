package pulsar

import (
	"context"
	"fmt"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Lag implements driver.LagReporter with the admin REST API: the backlog
// of the subscription on every partition of the topic, which counts the
// messages the group has not acknowledged, received or not (a batch counts
// as one entry). The consumer names its partitions; the backlog is the
// whole group's, so every member of a group reports the same. Without the
// adminURL parameter the error wraps driver.ErrLagUnknown.
func (s *subscription) Lag(ctx context.Context) ([]driver.PartitionLag, error) {
	if s.admin == nil {
		return nil, fmt.Errorf("%w: pulsar:// without the adminURL parameter", driver.ErrLagUnknown)
	}
	ids, err := s.lastMessageIDs(ctx)
	if err != nil {
		return nil, err
	}
	name := s.consumer.Subscription()
	lags := make([]driver.PartitionLag, 0, len(ids))
	for _, id := range ids {
		topic, err := utils.GetTopicName(id.Topic())
		if err != nil {
			return nil, fmt.Errorf("pulsar: lag: topic %q: %w", id.Topic(), err)
		}
		stats, err := s.admin.Topics().GetStatsWithContext(ctx, *topic)
		if err != nil {
			return nil, fmt.Errorf("pulsar: lag: stats of %s: %w", id.Topic(), err)
		}
		sub, ok := stats.Subscriptions[name]
		if !ok {
			return nil, fmt.Errorf("pulsar: lag: %s has no subscription %q", id.Topic(), name)
		}
		lags = append(lags, driver.PartitionLag{Partition: int32(topic.GetPartitionIndex()), Messages: sub.MsgBacklog})
	}
	return lags, nil
}

// lastMessageIDs asks the broker, over the consumer's own connection, for
// the last message id of each partition the consumer reads. The client
// call takes no context; it is bounded by the operation timeout.
func (s *subscription) lastMessageIDs(ctx context.Context) ([]pulsar.TopicMessageID, error) {
	type result struct {
		ids []pulsar.TopicMessageID
		err error
	}
	done := make(chan result, 1)
	go func() {
		ids, err := s.consumer.GetLastMessageIDs()
		done <- result{ids, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("pulsar: last message ids of %s: %w", s.consumer.Subscription(), r.err)
		}
		return r.ids, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("pulsar: last message ids of %s: %w", s.consumer.Subscription(), ctx.Err())
	}
}
