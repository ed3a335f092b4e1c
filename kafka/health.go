package kafka

import (
	"context"
	"fmt"
	"slices"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// CheckHealth implements driver.HealthChecker: the cluster answers a
// metadata request and no authentication or TLS failure was seen.
func (c *conn) CheckHealth(ctx context.Context) (string, error) {
	if c.closed.IsClosed() {
		return "", fmt.Errorf("kafka: %s: closed", c.cfg.redacted())
	}
	if authErr := c.authErr.Load(); authErr != nil {
		return "", fmt.Errorf("kafka: %s: %w", c.cfg.redacted(), *authErr)
	}
	md, err := c.metadata(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("kafka: %s: metadata: %w", c.cfg.redacted(), err)
	}
	return fmt.Sprintf("%d brokers", len(md.Brokers)), nil
}

// CheckHealth implements driver.HealthChecker: the consumer is running
// and the cluster answers for the topic. Its detail lists the partitions
// assigned; none is not a fault, since a group may have more members than
// the topic has partitions, or be rebalancing.
func (s *subscription) CheckHealth(ctx context.Context) (string, error) {
	select {
	case <-s.done:
		if s.m.err != nil {
			return "stopped", s.m.err
		}
		return "closed", fmt.Errorf("kafka: subscription to %q is closed", s.topic)
	default:
	}
	md, err := s.conn.metadata(ctx, &s.topic)
	if err != nil {
		return "", fmt.Errorf("kafka: metadata of %q: %w", s.topic, err)
	}
	if topicErr := md.Topics[s.topic].Error; topicErr.Code() != kafka.ErrNoError {
		return "", fmt.Errorf("kafka: topic %q: %w", s.topic, topicErr)
	}
	s.mu.Lock()
	assigned := make([]int32, 0, len(s.parts))
	for id := range s.parts {
		assigned = append(assigned, id)
	}
	s.mu.Unlock()
	slices.Sort(assigned)
	return fmt.Sprintf("partitions assigned: %v", assigned), nil
}
