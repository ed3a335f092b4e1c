package kafka

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/google/uuid"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Topics implements driver.Admin, leaving out Kafka's internal topics
// (those whose names start with "__").
func (c *conn) Topics(ctx context.Context) ([]driver.TopicInfo, error) {
	md, err := c.metadata(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("kafka: list topics: %w", err)
	}
	var topics []driver.TopicInfo
	for name, t := range md.Topics {
		if !strings.HasPrefix(name, "__") {
			topics = append(topics, driver.TopicInfo{Name: name, Partitions: len(t.Partitions)})
		}
	}
	slices.SortFunc(topics, func(a, b driver.TopicInfo) int { return cmp.Compare(a.Name, b.Name) })
	return topics, nil
}

// CreateTopic implements driver.Admin.
func (c *conn) CreateTopic(ctx context.Context, topic string, partitions int) error {
	return c.createTopic(ctx, topic, max(partitions, 1))
}

// DescribeTopic implements driver.Admin.
func (c *conn) DescribeTopic(ctx context.Context, topic string) (driver.TopicInfo, error) {
	tps, err := c.partitions(ctx, topic)
	if err != nil {
		return driver.TopicInfo{}, err
	}
	return driver.TopicInfo{Name: topic, Partitions: len(tps)}, nil
}

// partitions lists the partitions of topic.
func (c *conn) partitions(ctx context.Context, topic string) ([]kafka.TopicPartition, error) {
	exists, err := c.topicExists(ctx, topic)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("kafka: topic %q: %w", topic, driver.ErrTopicNotFound)
	}
	md, err := c.metadata(ctx, &topic)
	if err != nil {
		return nil, fmt.Errorf("kafka: metadata of topic %q: %w", topic, err)
	}
	tps := make([]kafka.TopicPartition, 0, len(md.Topics[topic].Partitions))
	for _, p := range md.Topics[topic].Partitions {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p.ID})
	}
	slices.SortFunc(tps, func(a, b kafka.TopicPartition) int { return cmp.Compare(a.Partition, b.Partition) })
	return tps, nil
}

// offsets lists the earliest or latest offset of each of tps, waiting out
// the leader elections of a topic created a moment ago.
func (c *conn) offsets(ctx context.Context, tps []kafka.TopicPartition, spec kafka.OffsetSpec) (map[int32]int64, error) {
	for {
		out, err := c.listOffsets(ctx, tps, spec)
		if err == nil || !isRetriable(err) {
			return out, err
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		}
	}
}

func (c *conn) listOffsets(ctx context.Context, tps []kafka.TopicPartition, spec kafka.OffsetSpec) (map[int32]int64, error) {
	specs := make(map[kafka.TopicPartition]kafka.OffsetSpec, len(tps))
	for _, tp := range tps {
		specs[kafka.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = spec
	}
	res, err := c.admin.ListOffsets(ctx, specs)
	if err != nil {
		return nil, fmt.Errorf("kafka: list offsets: %w", err)
	}
	out := make(map[int32]int64, len(tps))
	for tp, info := range res.ResultInfos {
		if info.Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("kafka: offset of partition %d: %w", tp.Partition, info.Error)
		}
		out[tp.Partition] = int64(info.Offset)
	}
	return out, nil
}

// GroupLag implements driver.Admin: per partition, the offsets from the
// group's commit to the end, less those the commit's metadata names as
// acked, and the time of the message at the commit.
func (c *conn) GroupLag(ctx context.Context, group, topic string) ([]driver.PartitionLag, error) {
	tps, err := c.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	starts, err := c.offsets(ctx, tps, kafka.EarliestOffsetSpec)
	if err != nil {
		return nil, err
	}
	ends, err := c.offsets(ctx, tps, kafka.LatestOffsetSpec)
	if err != nil {
		return nil, err
	}
	res, err := c.admin.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
	if err != nil {
		return nil, fmt.Errorf("kafka: offsets of group %q: %w", group, err)
	}
	lags := make([]driver.PartitionLag, len(tps))
	from := make([]kafka.TopicPartition, 0, len(tps))
	for i, tp := range tps {
		lags[i].Partition = tp.Partition
		committed := starts[tp.Partition] // a group that never committed starts at the earliest
		var acked []int64
		for _, ctp := range res.ConsumerGroupsTopicPartitions[0].Partitions {
			if ctp.Partition == tp.Partition && ctp.Offset >= 0 {
				committed = max(int64(ctp.Offset), starts[tp.Partition])
				if ctp.Metadata != nil {
					acked, _ = decodeAcked(int64(ctp.Offset), *ctp.Metadata)
				}
			}
		}
		end := ends[tp.Partition]
		lags[i].Messages = end - committed
		for _, o := range acked {
			if o >= committed && o < end {
				lags[i].Messages--
			}
		}
		if lags[i].Messages > 0 {
			from = append(from, kafka.TopicPartition{Topic: &topic, Partition: tp.Partition, Offset: kafka.Offset(committed)})
		}
	}
	if len(from) == 0 {
		return lags, nil
	}
	oldest := make(map[int32]time.Time, len(from))
	err = c.readFrom(ctx, from, nil, func(m *kafka.Message) (bool, error) {
		if _, seen := oldest[m.TopicPartition.Partition]; !seen {
			oldest[m.TopicPartition.Partition] = messageOf(m).Time
		}
		return len(oldest) == len(from), nil
	})
	if err != nil {
		return nil, fmt.Errorf("kafka: oldest unconsumed messages of group %q: %w", group, err)
	}
	for i := range lags {
		lags[i].Oldest = oldest[lags[i].Partition]
	}
	return lags, nil
}

// ReadTopic implements driver.TopicReader with a consumer of its own that
// assigns itself every partition from its earliest offset and commits
// nothing.
func (c *conn) ReadTopic(ctx context.Context, topic string, follow bool, fn func(driver.Delivery) error) error {
	tps, err := c.partitions(ctx, topic)
	if err != nil {
		return err
	}
	var ends map[int32]int64
	if !follow {
		starts, err := c.offsets(ctx, tps, kafka.EarliestOffsetSpec)
		if err != nil {
			return err
		}
		if ends, err = c.offsets(ctx, tps, kafka.LatestOffsetSpec); err != nil {
			return err
		}
		tps = slices.DeleteFunc(tps, func(tp kafka.TopicPartition) bool {
			empty := ends[tp.Partition] <= starts[tp.Partition]
			if empty {
				delete(ends, tp.Partition)
			}
			return empty
		})
		if len(tps) == 0 {
			return nil
		}
	}
	for i := range tps {
		tps[i].Offset = kafka.OffsetBeginning
	}
	return c.readFrom(ctx, tps, ends, func(m *kafka.Message) (bool, error) {
		d := driver.Delivery{Message: messageOf(m), Receipt: driver.Receipt{Attempt: 1,
			Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset), Native: m}}
		return false, fn(d)
	})
}

// readFrom consumes tps from their offsets with a consumer of its own and
// calls fn with each message until fn says it is done, every partition
// reached its offset in ends (when ends is not nil), or ctx is done.
func (c *conn) readFrom(ctx context.Context, tps []kafka.TopicPartition, ends map[int32]int64, fn func(*kafka.Message) (bool, error)) error {
	consumer, err := kafka.NewConsumer(c.cfg.consumerConfig("eventbus-reader-"+uuid.NewString(), "classic", true))
	if err != nil {
		return fmt.Errorf("kafka: new reader: %w", err)
	}
	logs := make(chan struct{})
	go func() {
		forwardLogs(c.logger, consumer.Logs())
		close(logs)
	}()
	defer func() {
		_ = consumer.Close()
		<-logs
	}()
	if err := consumer.Assign(tps); err != nil {
		return fmt.Errorf("kafka: reader assign: %w", err)
	}
	reached := func(partition int32, next int64) bool {
		end, ok := ends[partition]
		if ok && next >= end {
			delete(ends, partition)
		}
		return ends != nil && len(ends) == 0
	}
	empty := newEmptyWait()
	for ctx.Err() == nil {
		switch e := consumer.Poll(0).(type) {
		case *kafka.Message:
			empty.reset()
			if e.TopicPartition.Error != nil {
				return fmt.Errorf("kafka: read partition %d: %w", e.TopicPartition.Partition, e.TopicPartition.Error)
			}
			done, err := fn(e)
			if err != nil || done || reached(e.TopicPartition.Partition, int64(e.TopicPartition.Offset)+1) {
				return err
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("kafka: reader: %w", e)
			}
		case nil:
			// Nothing came: a partition whose last offsets hold no
			// message (transaction markers) is done at its position.
			positions, err := consumer.Position(tps)
			for _, p := range positions {
				if err == nil && p.Offset >= 0 && reached(p.Partition, int64(p.Offset)) {
					return nil
				}
			}
			empty.sleep(ctx.Done(), maxPollWait)
		}
	}
	return ctx.Err()
}
