package bench

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

func kafkaContenders() []Contender {
	return []Contender{
		{
			Backend: "kafka", Name: "eventbus",
			Settings: "kafka:// with the driver's defaults (see docs/kafka.md): confluent-kafka-go, idempotent, acks=all, no linger, two requests in flight per broker, TCP_NODELAY; five CloudEvents headers (ce_id, ce_time, ce_type, ce_source, ce_specversion) per record; consumer: one group member per bus and group (KIP-848) with the driver's fetch settings, offsets stored once handled",
			open: func(ctx context.Context, cfg Config) (Client, error) {
				return openBus(ctx, "kafka://"+cfg.Kafka)
			},
		},
		{
			Backend: "kafka", Name: "eventbus-linger5ms",
			Settings: "as eventbus, with linger=5ms: a Publish waits up to 5 ms for more to batch with instead of being sent at once (see docs/kafka.md for the trade-off)",
			open: func(ctx context.Context, cfg Config) (Client, error) {
				return openBus(ctx, "kafka://"+cfg.Kafka+"?linger=5ms")
			},
			only: []string{PublishBatch, PublishConcurrent, Latency},
		},
		{
			Backend: "kafka", Name: "confluent",
			Settings: "raw confluent-kafka-go: librdkafka's defaults (linger.ms=5, Nagle's algorithm on) plus idempotent, acks=all; no headers; Produce with a delivery channel per Publish; consumer: Poll(100) loop with the eventbus driver's fetch settings (fetch.wait.max.ms=100, fetch.queue.backoff.ms=10), group.protocol=consumer, StoreMessage per message, auto commit",
			open:     openConfluent,
			only:     libraryScenarios,
		},
		{
			Backend: "kafka", Name: "franz-go",
			Settings: "franz-go kgo: its defaults (idempotent, acks=all, linger 0, its own batching while a request is in flight); no headers; ProduceSync per Publish; consumer: classic group, PollFetches loop, FetchMaxWait 100ms, autocommit of polled records",
			open:     openFranz,
			only:     libraryScenarios,
		},
		{
			Backend: "kafka", Name: "watermill",
			Settings: "Watermill + watermill-kafka (sarama SyncProducer, one SendMessage after another within a Publish call): watermill's default sarama config plus acks=all (WaitForAll), idempotent, MaxOpenRequests=1; the _watermill_message_uuid header; key from a partitioning marshaler, sarama's hash partitioner (FNV-1a); consumer: sarama consumer group (classic), Router with a consumer handler, offsets from the oldest",
			open:     func(_ context.Context, cfg Config) (Client, error) { return openWatermillKafka(cfg, true) },
			only:     libraryScenarios,
		},
		{
			Backend: "kafka", Name: "watermill-defaults",
			Settings: "as watermill, but with watermill-kafka's default sarama config: acks=1 (WaitForLocal), not idempotent, up to 5 requests in flight per broker",
			open:     func(_ context.Context, cfg Config) (Client, error) { return openWatermillKafka(cfg, false) },
			only:     []string{PublishBatch, PublishConcurrent, Latency},
		},
	}
}

// confluentClient is a hand-written confluent-kafka-go client.
type confluentClient struct {
	servers  string
	producer *confluent.Producer
}

func openConfluent(_ context.Context, cfg Config) (Client, error) {
	p, err := confluent.NewProducer(&confluent.ConfigMap{
		"bootstrap.servers": cfg.Kafka, "enable.idempotence": true, "acks": "all",
	})
	if err != nil {
		return nil, err
	}
	go func() { // errors not tied to a message; the delivery channels carry the rest
		for range p.Events() {
		}
	}()
	return &confluentClient{servers: cfg.Kafka, producer: p}, nil
}

func (c *confluentClient) Publish(_ context.Context, topic string, msgs []Message) error {
	reports := make(chan confluent.Event, len(msgs))
	for _, m := range msgs {
		err := c.producer.Produce(&confluent.Message{
			TopicPartition: confluent.TopicPartition{Topic: &topic, Partition: confluent.PartitionAny},
			Key:            []byte(m.Key), Value: m.Payload,
		}, reports)
		if err != nil {
			return err
		}
	}
	for range msgs {
		if m, ok := (<-reports).(*confluent.Message); ok && m.TopicPartition.Error != nil {
			return m.TopicPartition.Error
		}
	}
	return nil
}

func (c *confluentClient) Subscribe(_ context.Context, topic, group string, handle func([]byte)) (func() error, error) {
	consumer, err := confluent.NewConsumer(&confluent.ConfigMap{
		"bootstrap.servers": c.servers, "group.id": group, "group.protocol": "consumer",
		"auto.offset.reset": "earliest", "enable.auto.offset.store": false,
		"fetch.queue.backoff.ms": 10, "fetch.wait.max.ms": 100,
		"max.partition.fetch.bytes": 4 << 20, "fetch.max.bytes": 52428800,
	})
	if err != nil {
		return nil, err
	}
	if err := consumer.Subscribe(topic, nil); err != nil {
		consumer.Close()
		return nil, err
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if m, ok := consumer.Poll(100).(*confluent.Message); ok {
				handle(m.Value)
				_, _ = consumer.StoreMessage(m) // a failed store means a redelivery, no loss
			}
		}
	}()
	return sync.OnceValue(func() error {
		close(quit)
		<-exited
		return consumer.Close()
	}), nil
}

func (c *confluentClient) Close() error {
	c.producer.Flush(int((10 * time.Second).Milliseconds()))
	c.producer.Close()
	return nil
}

// franzClient is a franz-go client with its defaults; each subscription
// has a client of its own, as a group member must.
type franzClient struct {
	servers string
	client  *kgo.Client
}

func openFranz(_ context.Context, cfg Config) (Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka))
	if err != nil {
		return nil, err
	}
	return &franzClient{servers: cfg.Kafka, client: cl}, nil
}

func (c *franzClient) Publish(ctx context.Context, topic string, msgs []Message) error {
	records := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		records[i] = &kgo.Record{Topic: topic, Key: []byte(m.Key), Value: m.Payload}
	}
	return c.client.ProduceSync(ctx, records...).FirstErr()
}

func (c *franzClient) Subscribe(_ context.Context, topic, group string, handle func([]byte)) (func() error, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.servers), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for ctx.Err() == nil {
			fetches := cl.PollFetches(ctx)
			fetches.EachRecord(func(r *kgo.Record) { handle(r.Value) })
		}
	}()
	return sync.OnceValue(func() error {
		cancel()
		<-exited
		cl.Close()
		return nil
	}), nil
}

func (c *franzClient) Close() error {
	c.client.Close()
	return nil
}

// watermillKafkaClient is Watermill with watermill-kafka (sarama).
type watermillKafkaClient struct {
	brokers   []string
	publisher *wmkafka.Publisher
}

func openWatermillKafka(cfg Config, acksAll bool) (Client, error) {
	config := wmkafka.DefaultSaramaSyncPublisherConfig()
	if acksAll {
		config.Producer.RequiredAcks = sarama.WaitForAll
		config.Producer.Idempotent = true
		config.Net.MaxOpenRequests = 1
	}
	marshaler := wmkafka.NewWithPartitioningMarshaler(func(_ string, m *message.Message) (string, error) {
		return m.Metadata.Get(watermillKey), nil
	})
	p, err := wmkafka.NewPublisher(wmkafka.PublisherConfig{
		Brokers: []string{cfg.Kafka}, Marshaler: marshaler, OverwriteSaramaConfig: config,
	}, watermill.NopLogger{})
	if err != nil {
		return nil, err
	}
	return &watermillKafkaClient{brokers: []string{cfg.Kafka}, publisher: p}, nil
}

func (c *watermillKafkaClient) Publish(_ context.Context, topic string, msgs []Message) error {
	return c.publisher.Publish(topic, watermillMessages(msgs)...)
}

func (c *watermillKafkaClient) Subscribe(ctx context.Context, topic, group string, handle func([]byte)) (func() error, error) {
	config := wmkafka.DefaultSaramaSubscriberConfig()
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	sub, err := wmkafka.NewSubscriber(wmkafka.SubscriberConfig{
		Brokers: c.brokers, Unmarshaler: wmkafka.DefaultMarshaler{}, ConsumerGroup: group,
		OverwriteSaramaConfig: config,
	}, watermill.NopLogger{})
	if err != nil {
		return nil, err
	}
	stop, err := runRouter(ctx, topic, sub, handle)
	if err != nil {
		return nil, errors.Join(err, sub.Close())
	}
	return sync.OnceValue(func() error { return errors.Join(stop(), sub.Close()) }), nil
}

func (c *watermillKafkaClient) Close() error { return c.publisher.Close() }
