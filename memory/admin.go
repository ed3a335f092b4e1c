package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Topics implements driver.Admin: every topic used so far.
func (c *conn) Topics(context.Context) ([]driver.TopicInfo, error) {
	b := c.broker
	b.mu.RLock()
	defer b.mu.RUnlock()
	topics := make([]driver.TopicInfo, 0, len(b.topics))
	for name := range b.topics {
		topics = append(topics, driver.TopicInfo{Name: name})
	}
	slices.SortFunc(topics, func(a, b driver.TopicInfo) int { return cmp.Compare(a.Name, b.Name) })
	return topics, nil
}

// CreateTopic implements driver.Admin. Topics have no partitions here;
// publishing or subscribing creates them too.
func (c *conn) CreateTopic(_ context.Context, topic string, partitions int) error {
	if partitions > 1 {
		return fmt.Errorf("memory: create topic %q: %d partitions: %w (mem:// topics have none)", topic, partitions, driver.ErrUnsupported)
	}
	b := c.broker
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.topics[topic] != nil {
		return fmt.Errorf("memory: create topic %q: %w", topic, driver.ErrTopicExists)
	}
	b.topics[topic] = newTopicLog(topic, b.opts.Retention)
	return nil
}

// DescribeTopic implements driver.Admin.
func (c *conn) DescribeTopic(_ context.Context, topic string) (driver.TopicInfo, error) {
	if c.broker.existing(topic) == nil {
		return driver.TopicInfo{}, fmt.Errorf("memory: topic %q: %w", topic, driver.ErrTopicNotFound)
	}
	return driver.TopicInfo{Name: topic}, nil
}

// GroupLag implements driver.Admin: the messages from the group's oldest
// unacknowledged one to the end of the topic, less those acked among them.
func (c *conn) GroupLag(_ context.Context, group, topic string) ([]driver.PartitionLag, error) {
	t := c.broker.existing(topic)
	if t == nil {
		return nil, fmt.Errorf("memory: topic %q: %w", topic, driver.ErrTopicNotFound)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	lag := driver.PartitionLag{Partition: -1}
	g := t.groups[group]
	low := t.start // a group that never read has everything ahead
	if g != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
		low = max(g.low, t.start)
		for i, st := range g.window.Items() {
			if st.settled && g.low+int64(i) >= low {
				lag.Messages-- // acked beyond the oldest unacked
			}
		}
	}
	lag.Messages += t.end() - low
	if lag.Messages > 0 {
		lag.Oldest = t.at(low).Time
	}
	return []driver.PartitionLag{lag}, nil
}

// ReadTopic implements driver.TopicReader.
func (c *conn) ReadTopic(ctx context.Context, topic string, follow bool, fn func(driver.Delivery) error) error {
	t := c.broker.topic(topic)
	wake := make(chan struct{}, 1)
	t.mu.Lock()
	offset, end := t.start, t.end()
	for {
		if c.closed.IsClosed() {
			t.mu.Unlock()
			return driver.ErrClosed
		}
		offset = max(offset, t.start) // evicted meanwhile
		if offset < t.end() {
			d := driver.Delivery{Message: *t.at(offset), Receipt: driver.Receipt{Attempt: 1, Partition: -1, Offset: offset}}
			offset++
			t.mu.Unlock()
			if err := fn(d); err != nil {
				return err
			}
			t.mu.Lock()
			continue
		}
		if !follow && offset >= end {
			t.mu.Unlock()
			return nil
		}
		if err := t.wait(ctx, &t.consumers, wake, 0); err != nil {
			t.mu.Unlock()
			return err
		}
	}
}

// existing returns the topic named name, or nil.
func (b *Broker) existing(name string) *topicLog {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topics[name]
}
