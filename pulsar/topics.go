package pulsar

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/apache/pulsar-client-go/pulsaradmin"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/rest"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// adminClient returns the admin REST client of the adminURL parameter.
func (c *conn) adminClient() (pulsaradmin.Client, error) {
	if c.admin == nil {
		return nil, fmt.Errorf("pulsar: the admin API needs the adminURL parameter: %w", driver.ErrUnsupported)
	}
	return c.admin, nil
}

// Topics implements driver.Admin: the persistent topics of the URL's
// tenant and namespace, by short name.
func (c *conn) Topics(ctx context.Context) ([]driver.TopicInfo, error) {
	admin, err := c.adminClient()
	if err != nil {
		return nil, err
	}
	ns, err := utils.GetNamespaceName(c.cfg.tenant + "/" + c.cfg.namespace)
	if err != nil {
		return nil, fmt.Errorf("pulsar: namespace: %w", err)
	}
	partitioned, plain, err := admin.Topics().ListWithContext(ctx, *ns)
	if err != nil {
		return nil, c.adminError("list topics", err)
	}
	prefix := "persistent://" + c.cfg.tenant + "/" + c.cfg.namespace + "/"
	var topics []driver.TopicInfo
	for _, name := range partitioned {
		if short, ok := strings.CutPrefix(name, prefix); ok {
			info, err := c.DescribeTopic(ctx, short)
			if err != nil {
				return nil, err
			}
			topics = append(topics, info)
		}
	}
	for _, name := range plain {
		short, ok := strings.CutPrefix(name, prefix)
		if ok && !strings.Contains(short, partitionSuffix) {
			topics = append(topics, driver.TopicInfo{Name: short})
		}
	}
	slices.SortFunc(topics, func(a, b driver.TopicInfo) int { return cmp.Compare(a.Name, b.Name) })
	return topics, nil
}

// maxPeekedEntries bounds the backlog GroupLag reads to count messages in
// batches; beyond it, the count is in entries.
const maxPeekedEntries = 1000

// partitionSuffix joins a partitioned topic's name and a partition index.
const partitionSuffix = "-partition-"

// CreateTopic implements driver.Admin: partitions above 1 make a
// partitioned topic, 0 or 1 a plain one.
func (c *conn) CreateTopic(ctx context.Context, topic string, partitions int) error {
	name, err := c.topicName(topic)
	if err != nil {
		return err
	}
	admin, err := c.adminClient()
	if err != nil {
		return err
	}
	if partitions <= 1 {
		partitions = 0
	}
	if err := admin.Topics().CreateWithContext(ctx, *name, partitions); err != nil {
		return c.adminError("create topic "+topic, err)
	}
	return nil
}

// DescribeTopic implements driver.Admin.
func (c *conn) DescribeTopic(ctx context.Context, topic string) (driver.TopicInfo, error) {
	name, err := c.topicName(topic)
	if err != nil {
		return driver.TopicInfo{}, err
	}
	admin, err := c.adminClient()
	if err != nil {
		return driver.TopicInfo{}, err
	}
	md, err := admin.Topics().GetMetadataWithContext(ctx, *name)
	if err != nil {
		return driver.TopicInfo{}, c.adminError("describe topic "+topic, err)
	}
	if md.Partitions == 0 {
		// Metadata does not tell a plain topic from a missing one.
		if _, err := admin.Topics().GetStatsWithContext(ctx, *name); err != nil {
			return driver.TopicInfo{}, c.adminError("describe topic "+topic, err)
		}
	}
	return driver.TopicInfo{Name: topic, Partitions: md.Partitions}, nil
}

// GroupLag implements driver.Admin: the backlog of the group's
// subscription, per partition, and the publish time of the first message
// of each backlog, peeked without consuming it.
func (c *conn) GroupLag(ctx context.Context, group, topic string) ([]driver.PartitionLag, error) {
	info, err := c.DescribeTopic(ctx, topic)
	if err != nil {
		return nil, err
	}
	admin, err := c.adminClient()
	if err != nil {
		return nil, err
	}
	parts := []string{topic}
	if info.Partitions > 0 {
		parts = parts[:0]
		for i := range info.Partitions {
			parts = append(parts, topic+partitionSuffix+strconv.Itoa(i))
		}
	}
	lags := make([]driver.PartitionLag, len(parts))
	for i, part := range parts {
		lags[i].Partition = -1
		if info.Partitions > 0 {
			lags[i].Partition = int32(i)
		}
		name, err := c.topicName(part)
		if err != nil {
			return nil, err
		}
		stats, err := admin.Topics().GetStatsWithContext(ctx, *name)
		if err != nil {
			return nil, c.adminError("stats of "+part, err)
		}
		sub, ok := stats.Subscriptions[group]
		if !ok {
			return nil, fmt.Errorf("pulsar: topic %q has no subscription %q: %w", topic, group, driver.ErrTopicNotFound)
		}
		lags[i].Messages = sub.MsgBacklog
		if sub.MsgBacklog == 0 {
			continue
		}
		// The backlog counts entries, and a producer's batch is one
		// entry: peek a short backlog to count its messages.
		peek := 1
		if sub.MsgBacklog <= maxPeekedEntries {
			peek = int(sub.MsgBacklog)
		}
		msgs, err := admin.Subscriptions().PeekMessagesWithContext(ctx, *name, group, peek)
		if err != nil || len(msgs) == 0 {
			continue // the count stays in entries, the oldest unknown
		}
		if int64(peek) == sub.MsgBacklog {
			lags[i].Messages = int64(len(msgs))
		}
		var m driver.Message
		for k, v := range msgs[0].Properties {
			driver.DecodeHeader(&m, k, v)
		}
		if m.Time.IsZero() {
			// Without ce_time: the peek shows no event time, but the
			// broker's publish time.
			m.Time = parsePublishTime(msgs[0].Properties["publish-time"])
		}
		lags[i].Oldest = m.Time
	}
	return lags, nil
}

// parsePublishTime reads the publish time a peek reports: the broker
// writes it in ISO 8601, older ones in milliseconds since 1970. It is zero
// when absent or unreadable.
func parsePublishTime(value string) time.Time {
	if ms, err := strconv.ParseInt(value, 10, 64); err == nil {
		return time.UnixMilli(ms)
	}
	t, _ := driver.ParseTime(value)
	return t
}

func (c *conn) topicName(topic string) (*utils.TopicName, error) {
	full, err := c.topic(topic)
	if err != nil {
		return nil, err
	}
	name, err := utils.GetTopicName(full)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", driver.ErrInvalidTopic, topic, err)
	}
	return name, nil
}

// adminError maps the admin API's HTTP errors onto the driver's.
func (c *conn) adminError(what string, err error) error {
	var rerr rest.Error
	if errors.As(err, &rerr) {
		switch rerr.Code {
		case http.StatusNotFound:
			return fmt.Errorf("pulsar: %s: %w", what, driver.ErrTopicNotFound)
		case http.StatusConflict:
			return fmt.Errorf("pulsar: %s: %w", what, driver.ErrTopicExists)
		}
	}
	return fmt.Errorf("pulsar: %s (admin API %s): %w", what, c.cfg.adminURL, err)
}

// ReadTopic implements driver.TopicReader with a pulsar.Reader per
// partition, from the earliest message kept.
func (c *conn) ReadTopic(ctx context.Context, topic string, follow bool, fn func(driver.Delivery) error) error {
	full, err := c.topic(topic)
	if err != nil {
		return err
	}
	parts, err := c.client.TopicPartitions(full)
	if err != nil {
		return fmt.Errorf("pulsar: read %s: look up partitions: %w", full, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex // serialises fn
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	for i, part := range parts {
		wg.Go(func() {
			reader, err := c.client.CreateReader(pulsar.ReaderOptions{Topic: part, StartMessageID: pulsar.EarliestMessageID()})
			if err != nil {
				fail(fmt.Errorf("pulsar: read %s: %w", part, err))
				return
			}
			defer reader.Close()
			for follow || reader.HasNext() {
				msg, err := reader.Next(ctx)
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("pulsar: read %s: %w", part, err))
					}
					return
				}
				d := driver.Delivery{
					Message: decodeMessage(msg),
					Receipt: driver.Receipt{Attempt: 1, Partition: -1, Offset: -1, Native: msg},
				}
				if len(parts) > 1 {
					d.Partition = int32(i)
				}
				mu.Lock()
				err = firstErr
				if err == nil {
					err = fn(d)
				}
				mu.Unlock()
				if err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
