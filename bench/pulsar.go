package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/google/uuid"

	"github.com/eventbus-go/eventbus/bus"
)

func pulsarContenders() []Contender {
	return []Contender{
		{
			Backend: "pulsar", Name: "eventbus",
			Settings: "pulsar:// with the driver's defaults (see docs/pulsar.md): a producer per partition with key-based batching, a batch sent as soon as fewer than two flushes are in flight; the CloudEvents attributes as the driver maps them; consumer: Key_Shared group",
			open: func(ctx context.Context, cfg Config) (Client, error) {
				return openBus(ctx, cfg.Pulsar)
			},
		},
		{
			Backend: "pulsar", Name: "raw",
			Settings: "raw pulsar-client-go: SendAsync of bare messages (key and payload, no properties), waiting for every callback; producer with key-based batching, 10ms delay, 1000 messages per batch, 10000 pending; consumer: Key_Shared, Receive + Ack loop, batch-index acknowledgment, receiver queue 1000",
			open:     func(_ context.Context, cfg Config) (Client, error) { return openRawPulsar(cfg, nil) },
			only:     libraryScenarios,
		},
		{
			Backend: "pulsar", Name: "raw-properties",
			Settings: "as raw, but each message carries the properties (and event time) eventbus put on a message it published at start-up, with a fresh ce_id per message",
			open:     openRawPulsarLikeEventbus,
			only:     []string{PublishBatch, PublishConcurrent, Latency},
		},
	}
}

// pulsarShape is what a raw message carries besides key and payload.
type pulsarShape struct {
	properties map[string]string
	eventTime  bool
}

type rawPulsarClient struct {
	client pulsar.Client
	shape  *pulsarShape

	mu        sync.Mutex
	producers map[string]pulsar.Producer
}

func quietPulsarLogger() pulsarlog.Logger {
	return pulsarlog.NewLoggerWithSlog(slog.New(slog.DiscardHandler))
}

func openRawPulsar(cfg Config, shape *pulsarShape) (*rawPulsarClient, error) {
	client, err := pulsar.NewClient(pulsar.ClientOptions{URL: cfg.Pulsar, Logger: quietPulsarLogger()})
	if err != nil {
		return nil, err
	}
	return &rawPulsarClient{client: client, shape: shape, producers: map[string]pulsar.Producer{}}, nil
}

// openRawPulsarLikeEventbus learns what eventbus puts on a message by
// publishing one with eventbus and reading it back raw.
func openRawPulsarLikeEventbus(ctx context.Context, cfg Config) (Client, error) {
	raw, err := openRawPulsar(cfg, nil)
	if err != nil {
		return nil, err
	}
	shape, err := raw.eventbusShape(ctx, cfg)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("reading what eventbus sends: %w", err)
	}
	raw.shape = shape
	return raw, nil
}

func (c *rawPulsarClient) eventbusShape(ctx context.Context, cfg Config) (*pulsarShape, error) {
	topic := fmt.Sprintf("bench-shape-%d", time.Now().UnixNano())
	consumer, err := c.client.Subscribe(pulsar.ConsumerOptions{
		Topic: fullPulsarTopic(topic), SubscriptionName: "shape",
		SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
	})
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	b, err := bus.Open(ctx, cfg.Pulsar)
	if err != nil {
		return nil, err
	}
	err = b.Publish(ctx, topic, &bus.Message{Key: "key-0", Payload: make([]byte, cfg.PayloadBytes)})
	if closeErr := b.Close(ctx); err == nil {
		err = closeErr
	}
	if err != nil {
		return nil, err
	}
	m, err := consumer.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return &pulsarShape{properties: m.Properties(), eventTime: !m.EventTime().IsZero()}, nil
}

func fullPulsarTopic(topic string) string {
	if strings.Contains(topic, "://") {
		return topic
	}
	return "persistent://public/default/" + topic
}

func (c *rawPulsarClient) producer(topic string) (pulsar.Producer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.producers[topic]; ok {
		return p, nil
	}
	p, err := c.client.CreateProducer(pulsar.ProducerOptions{
		Topic:                   fullPulsarTopic(topic),
		BatcherBuilderType:      pulsar.KeyBasedBatchBuilder,
		BatchingMaxPublishDelay: 10 * time.Millisecond,
		BatchingMaxMessages:     1000,
		MaxPendingMessages:      10000,
	})
	if err != nil {
		return nil, err
	}
	c.producers[topic] = p
	return p, nil
}

func (c *rawPulsarClient) Publish(ctx context.Context, topic string, msgs []Message) error {
	p, err := c.producer(topic)
	if err != nil {
		return err
	}
	var (
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	wg.Add(len(msgs))
	for _, m := range msgs {
		pm := &pulsar.ProducerMessage{Key: m.Key, Payload: m.Payload}
		if c.shape != nil {
			pm.Properties = maps.Clone(c.shape.properties)
			if _, ok := pm.Properties["ce_id"]; ok {
				pm.Properties["ce_id"] = uuid.NewString()
			}
			if c.shape.eventTime {
				pm.EventTime = time.Now()
			}
		}
		p.SendAsync(ctx, pm, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return *err
	}
	return nil
}

func (c *rawPulsarClient) Subscribe(_ context.Context, topic, group string, handle func([]byte)) (func() error, error) {
	consumer, err := c.client.Subscribe(pulsar.ConsumerOptions{
		Topic: fullPulsarTopic(topic), SubscriptionName: group, Type: pulsar.KeyShared,
		SubscriptionInitialPosition:    pulsar.SubscriptionPositionEarliest,
		EnableBatchIndexAcknowledgment: true, ReceiverQueueSize: 1000,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			m, err := consumer.Receive(ctx)
			if err != nil {
				return
			}
			handle(m.Payload())
			_ = consumer.Ack(m) // a failed ack means a redelivery, no loss
		}
	}()
	return sync.OnceValue(func() error {
		cancel()
		<-exited
		consumer.Close()
		return nil
	}), nil
}

func (c *rawPulsarClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, p := range c.producers {
		if err := p.FlushWithCtx(ctx); err != nil {
			errs = append(errs, err)
		}
		p.Close()
	}
	c.client.Close()
	return errors.Join(errs...)
}
