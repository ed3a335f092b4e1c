package bench

import (
	"context"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

func memoryContenders() []Contender {
	return []Contender{
		{
			Backend: "memory", Name: "eventbus",
			Settings: "mem://, a group per subscription, default Concurrency(1); every message gets a UUIDv7 ID and a time, a copy of its payload is kept until acknowledged",
			open:     func(ctx context.Context, _ Config) (Client, error) { return openBus(ctx, "mem://") },
		},
		{
			Backend: "memory", Name: "watermill",
			Settings: "Watermill GoChannel (default config: unbuffered, not persistent, Publish does not wait for the subscriber's ack) and a Router with a consumer handler; a watermill.NewUUID per message, as its users write",
			open:     openGoChannel,
			only:     []string{PublishOne},
		},
	}
}

// goChannelClient is Watermill's in-process GoChannel, consumed through a
// Router as Watermill's documentation shows.
type goChannelClient struct{ pubsub *gochannel.GoChannel }

func openGoChannel(context.Context, Config) (Client, error) {
	return goChannelClient{pubsub: gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})}, nil
}

func (c goChannelClient) Publish(_ context.Context, topic string, msgs []Message) error {
	return c.pubsub.Publish(topic, watermillMessages(msgs)...)
}

func (c goChannelClient) Subscribe(ctx context.Context, topic, _ string, handle func([]byte)) (func() error, error) {
	return runRouter(ctx, topic, c.pubsub, handle)
}

func (c goChannelClient) Close() error { return c.pubsub.Close() }

// watermillMessages makes Watermill messages, each with the UUID
// Watermill asks for and the key in the metadata.
func watermillMessages(msgs []Message) []*message.Message {
	out := make([]*message.Message, len(msgs))
	for i, m := range msgs {
		out[i] = message.NewMessage(watermill.NewUUID(), m.Payload)
		out[i].Metadata.Set(watermillKey, m.Key)
	}
	return out
}

// watermillKey is the metadata entry that carries a message's key.
const watermillKey = "key"

// runRouter consumes topic from subscriber through a Watermill Router
// whose handler calls handle, and returns once the router runs.
func runRouter(ctx context.Context, topic string, subscriber message.Subscriber, handle func([]byte)) (func() error, error) {
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		return nil, err
	}
	router.AddConsumerHandler("bench", topic, subscriber, func(m *message.Message) error {
		handle(m.Payload)
		return nil
	})
	failed := make(chan error, 1)
	go func() { failed <- router.Run(context.Background()) }()
	select {
	case <-router.Running():
		return router.Close, nil
	case err := <-failed:
		return nil, err
	case <-ctx.Done():
		router.Close()
		return nil, ctx.Err()
	}
}
