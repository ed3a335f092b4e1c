package bus

import (
	"context"
	"fmt"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// TopicInfo describes a topic.
type TopicInfo struct {
	Name string
	// Partitions is the number of partitions; 0 for a topic the backend
	// does not partition.
	Partitions int
}

// admin returns the backend's admin interface, or an error wrapping
// ErrUnsupported.
func (b *Bus) admin(what string) (driver.Admin, error) {
	if err := b.checkOpen(what); err != nil {
		return nil, err
	}
	a, ok := b.conn.(driver.Admin)
	if !ok {
		return nil, fmt.Errorf("eventbus: %s on %s: %w", what, b.name, ErrUnsupported)
	}
	return a, nil
}

func (b *Bus) checkOpen(what string) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return fmt.Errorf("eventbus: %s: %w", what, ErrClosed)
	}
	return nil
}

// Topics lists the backend's topics (on Pulsar, those of the URL's tenant
// and namespace).
func (b *Bus) Topics(ctx context.Context) ([]TopicInfo, error) {
	a, err := b.admin("list topics")
	if err != nil {
		return nil, err
	}
	list, err := a.Topics(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TopicInfo, len(list))
	for i, t := range list {
		out[i] = TopicInfo(t)
	}
	return out, nil
}

// CreateTopic creates topic with the given number of partitions (0 or 1
// for the backend's unpartitioned kind). It fails with ErrTopicExists when
// the topic exists, and returns once the backend serves every partition.
func (b *Bus) CreateTopic(ctx context.Context, topic string, partitions int) error {
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	if partitions < 0 {
		return fmt.Errorf("eventbus: create topic %q: %d partitions", topic, partitions)
	}
	a, err := b.admin("create topic")
	if err != nil {
		return err
	}
	return a.CreateTopic(ctx, topic, partitions)
}

// DescribeTopic describes topic; it fails with ErrTopicNotFound when the
// topic does not exist.
func (b *Bus) DescribeTopic(ctx context.Context, topic string) (TopicInfo, error) {
	if err := ValidateTopic(topic); err != nil {
		return TopicInfo{}, err
	}
	a, err := b.admin("describe topic")
	if err != nil {
		return TopicInfo{}, err
	}
	t, err := a.DescribeTopic(ctx, topic)
	return TopicInfo(t), err
}

// GroupLag reports, per partition, what group has not acknowledged of
// topic: in messages, and the time of the oldest of them. It works without
// a running subscription, from what the backend keeps of the group (for a
// running one, Subscription.Lag also counts what it holds).
func (b *Bus) GroupLag(ctx context.Context, group, topic string) ([]PartitionLag, error) {
	if err := ValidateTopic(topic); err != nil {
		return nil, err
	}
	if group == "" {
		return nil, fmt.Errorf("eventbus: lag of %q: the group is empty", topic)
	}
	a, err := b.admin("lag")
	if err != nil {
		return nil, err
	}
	list, err := a.GroupLag(ctx, group, topic)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionLag, len(list))
	for i, l := range list {
		out[i] = PartitionLag(l)
	}
	return out, nil
}

// ReadTopic calls fn with each message of topic from the oldest one the
// backend keeps, in order per partition, without a consumer group: it
// commits nothing and changes no group. It returns nil once it has read
// what the topic held when ReadTopic began; with follow it goes on with new
// messages until ctx is done. An error of fn ends the read and is
// returned. It is for tools (tail, dead-letter inspection), not for
// handling events: use Subscribe for that.
func (b *Bus) ReadTopic(ctx context.Context, topic string, follow bool, fn func(*Message) error) error {
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	if err := b.checkOpen("read topic"); err != nil {
		return err
	}
	r, ok := b.conn.(driver.TopicReader)
	if !ok {
		return fmt.Errorf("eventbus: read topic on %s: %w", b.name, ErrUnsupported)
	}
	return r.ReadTopic(ctx, topic, follow, func(d driver.Delivery) error {
		return fn(&Message{ID: d.ID, Key: d.Key, Payload: d.Payload, Header: d.Header, Time: d.Time,
			Topic: topic, Attempt: 1, receipt: d.Receipt})
	})
}
