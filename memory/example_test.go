package memory_test

import (
	"context"
	"fmt"
	"log"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/memory"
)

// Buses made on one Broker share its topics and groups, as processes share
// a Kafka or Pulsar cluster; every bus.Open("mem://") has a broker of its
// own.
func ExampleBroker_NewBus() {
	ctx := context.Background()
	broker, err := memory.NewBroker(memory.Options{Retention: 1000})
	if err != nil {
		log.Fatal(err)
	}
	producer, err := broker.NewBus()
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close(ctx)
	consumer, err := broker.NewBus()
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close(ctx)

	done := make(chan struct{})
	_, err = consumer.Subscribe(ctx, "orders", func(ctx context.Context, m *bus.Message) error {
		fmt.Printf("consumer got %s\n", m.Payload)
		close(done)
		return nil
	}, bus.Group("billing"))
	if err != nil {
		log.Fatal(err)
	}
	if err := producer.Publish(ctx, "orders", &bus.Message{Payload: []byte("order-1")}); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output: consumer got order-1
}
