package pulsar

import (
	"context"
	"fmt"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// CheckHealth implements driver.HealthChecker: the consumer answers a
// round trip to its broker (the topic's last message id), which fails
// while its connection is down.
func (s *subscription) CheckHealth(ctx context.Context) (string, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return "closed", driver.ErrClosed
	}
	ids, err := s.lastMessageIDs(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("connected, %d partitions", len(ids)), nil
}
