package bench

import (
	"context"

	"github.com/eventbus-go/eventbus/bus"
	// The drivers register their URL schemes.
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/memory"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

// busClient is eventbus on any backend, opened from a URL with the
// driver's defaults.
type busClient struct{ bus *bus.Bus }

func openBus(ctx context.Context, url string) (Client, error) {
	b, err := bus.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return busClient{bus: b}, nil
}

func (c busClient) Publish(ctx context.Context, topic string, msgs []Message) error {
	if len(msgs) == 1 { // as a caller publishing one event writes it: no slice, no heap Message
		return c.bus.Publish(ctx, topic, &bus.Message{Key: msgs[0].Key, Payload: msgs[0].Payload})
	}
	out := make([]*bus.Message, len(msgs))
	for i, m := range msgs {
		out[i] = &bus.Message{Key: m.Key, Payload: m.Payload}
	}
	return c.bus.Publish(ctx, topic, out...)
}

func (c busClient) Subscribe(ctx context.Context, topic, group string, handle func([]byte)) (func() error, error) {
	sub, err := c.bus.Subscribe(ctx, topic, func(_ context.Context, m *bus.Message) error {
		handle(m.Payload)
		return nil
	}, bus.Group(group))
	if err != nil {
		return nil, err
	}
	return func() error { return sub.Close(context.Background()) }, nil
}

func (c busClient) Close() error { return c.bus.Close(context.Background()) }
