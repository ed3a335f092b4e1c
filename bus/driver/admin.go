package driver

import "context"

// TopicReader is implemented by a Conn that can read a topic without a
// consumer group, for tools that inspect topics (tail, dead-letter
// listing and replay). Reading commits nothing and changes no group.
type TopicReader interface {
	// ReadTopic calls fn with each message of topic from the oldest one
	// the backend keeps, in order per partition. It returns nil once it has
	// read everything the topic held when ReadTopic began; with follow it
	// goes on with new messages until ctx is done. An error of fn ends the
	// read and is returned. Deliveries need no Ack or Nack.
	ReadTopic(ctx context.Context, topic string, follow bool, fn func(Delivery) error) error
}

// Admin is implemented by a Conn that can manage topics and report the lag
// of a consumer group.
type Admin interface {
	// Topics lists the topics, without the backend's internal ones.
	Topics(ctx context.Context) ([]TopicInfo, error)
	// CreateTopic creates topic with partitions partitions (0 or 1: the
	// backend's unpartitioned kind where it has one). It returns an error
	// wrapping ErrTopicExists when the topic exists, and returns once the
	// backend serves every partition.
	CreateTopic(ctx context.Context, topic string, partitions int) error
	// DescribeTopic describes topic, or returns an error wrapping
	// ErrTopicNotFound.
	DescribeTopic(ctx context.Context, topic string) (TopicInfo, error)
	// GroupLag reports, per partition, what group has not consumed of
	// topic.
	GroupLag(ctx context.Context, group, topic string) ([]PartitionLag, error)
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name string
	// Partitions is the number of partitions; 0 for a topic the backend
	// does not partition.
	Partitions int
}
