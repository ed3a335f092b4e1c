package pulsar

import (
	"context"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// topicPartitions is client.TopicPartitions, which takes no ctx, run beside
// ctx: it returns when ctx is done even while the lookup goes on (bounded
// by the client's operation timeout). Subscribe starts with it, so it
// reports ErrClosed on a closed connection first.
func (c *conn) topicPartitions(ctx context.Context, topic string) ([]string, error) {
	if c.closed.IsClosed() {
		return nil, driver.ErrClosed
	}
	type result struct {
		partitions []string
		err        error
	}
	done := make(chan result, 1)
	go func() {
		partitions, err := c.client.TopicPartitions(topic)
		done <- result{partitions, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, mapError(r.err)
		}
		return r.partitions, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
