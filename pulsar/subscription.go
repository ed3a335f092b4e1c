package pulsar

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/apache/pulsar-client-go/pulsaradmin"
	"github.com/eventbus-go/eventbus/bus/driver"
)

// nackLead is the client's own nack redelivery delay. Nack waits out the
// rest of the delay bus asks for on a timer of its own: a NackBackoffPolicy
// sees only the redelivery count, not the delay.
const nackLead = 100 * time.Millisecond

// subscription is a driver.Subscription over one pulsar.Consumer.
type subscription struct {
	consumer    pulsar.Consumer
	admin       pulsaradmin.Client // nil without adminURL; for Lag
	messages    <-chan pulsar.ConsumerMessage
	partitioned bool
	closing     chan struct{}

	mu       sync.Mutex
	stopping bool // StopReceiving was called: Close gives back what is unacked
	closed   bool
	nacks    map[*time.Timer]struct{} // delayed nacks not yet sent
}

func (c *conn) Subscribe(ctx context.Context, topic string, sc driver.SubscribeConfig) (driver.Subscription, error) {
	full, err := c.topic(topic)
	if err != nil {
		return nil, err
	}
	opts := pulsar.ConsumerOptions{
		Topic:                          full,
		SubscriptionName:               sc.Group,
		Type:                           pulsar.KeyShared,
		SubscriptionMode:               pulsar.Durable,
		SubscriptionInitialPosition:    pulsar.SubscriptionPositionEarliest,
		ReceiverQueueSize:              c.cfg.receiverQueueSize,
		EnableBatchIndexAcknowledgment: true,
		NackRedeliveryDelay:            nackLead,
		NackPrecisionBit:               new(int64), // no rounding of nack times
	}
	if sc.Group == "" {
		opts.SubscriptionName = driver.EphemeralGroup()
		opts.Type = pulsar.Exclusive
		opts.SubscriptionMode = pulsar.NonDurable
		opts.SubscriptionInitialPosition = pulsar.SubscriptionPositionLatest
	}
	for _, o := range sc.Options {
		switch o := o.(type) {
		case subscriptionTypeOption:
			t, ok := o.t.native()
			if !ok {
				return nil, fmt.Errorf("pulsar: subscribe to %s: unknown subscription type %v", full, o.t)
			}
			opts.Type = t
		default:
			return nil, fmt.Errorf("pulsar: subscribe to %s: %w", full, driver.UnknownOption(o))
		}
	}
	partitions, err := c.topicPartitions(ctx, full)
	if err != nil {
		return nil, fmt.Errorf("pulsar: subscribe to %s: look up partitions: %w", full, err)
	}
	// Subscribe takes no context; run it beside ctx so a cancelled ctx
	// returns at once, and close the consumer if it arrives late.
	type result struct {
		consumer pulsar.Consumer
		err      error
	}
	created := make(chan result, 1)
	go func() {
		consumer, err := c.client.Subscribe(opts)
		created <- result{consumer, err}
	}()
	var r result
	select {
	case r = <-created:
	case <-ctx.Done():
		go func() {
			if r := <-created; r.consumer != nil {
				r.consumer.Close()
			}
		}()
		return nil, fmt.Errorf("pulsar: subscribe to %s: %w", full, ctx.Err())
	}
	if r.err != nil {
		return nil, fmt.Errorf("pulsar: subscribe to %s as %q: %w", full, sc.Group, r.err)
	}
	return &subscription{
		consumer:    r.consumer,
		admin:       c.admin,
		messages:    r.consumer.Chan(),
		partitioned: len(partitions) > 1 || (len(partitions) == 1 && partitions[0] != full),
		closing:     make(chan struct{}),
		nacks:       make(map[*time.Timer]struct{}),
	}, nil
}

func (s *subscription) Receive(ctx context.Context, batch []driver.Delivery) (int, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	select {
	case cm := <-s.messages:
		s.fill(&batch[0], cm)
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.closing:
		return 0, driver.ErrClosed
	}
	n := 1
	for n < len(batch) {
		select {
		case cm := <-s.messages:
			s.fill(&batch[n], cm)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func (s *subscription) fill(d *driver.Delivery, cm pulsar.ConsumerMessage) {
	msg := cm.Message
	*d = driver.Delivery{
		Message: decodeMessage(msg),
		Receipt: driver.Receipt{
			Attempt:   int(msg.RedeliveryCount()) + 1,
			Partition: -1,
			Offset:    -1,
			Handle:    msg.ID(),
			Native:    cm,
		},
	}
	if s.partitioned {
		d.Partition = msg.ID().PartitionIdx()
	}
}

func (s *subscription) Ack(r *driver.Receipt) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil // the broker redelivers what a closed consumer held
	}
	if err := s.consumer.AckID(r.Handle.(pulsar.MessageID)); err != nil {
		return fmt.Errorf("pulsar: ack %s: %w", s.consumer.Subscription(), err)
	}
	return nil
}

// Nack asks the broker to redeliver after delay. Redelivery also follows
// when the consumer closes before the delay is over, so once shutdown has
// begun Nack leaves the message to Close.
func (s *subscription) Nack(r *driver.Receipt, delay time.Duration) error {
	id := r.Handle.(pulsar.MessageID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || s.closed {
		return nil
	}
	if delay <= nackLead {
		s.consumer.NackID(id)
		return nil
	}
	var timer *time.Timer
	timer = time.AfterFunc(delay-nackLead, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, pending := s.nacks[timer]; pending && !s.closed {
			delete(s.nacks, timer)
			s.consumer.NackID(id)
		}
	})
	s.nacks[timer] = struct{}{}
	return nil
}

// StopReceiving implements driver.Subscription.
func (s *subscription) StopReceiving() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
}

// Close flushes pending acks and closes the consumer; the broker
// redelivers what was not acked, delayed nacks included.
func (s *subscription) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	for t := range s.nacks {
		t.Stop()
	}
	clear(s.nacks)
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.consumer.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pulsar: close consumer %s: %w", s.consumer.Subscription(), ctx.Err())
	}
}
