package kafka_test

import (
	"context"
	"log"

	"github.com/eventbus-go/eventbus/bus"
	_ "github.com/eventbus-go/eventbus/kafka"
)

// A kafka:// URL names the bootstrap brokers; parameters tune the driver
// (docs/kafka.md lists them). This example needs a running cluster, so it
// is compiled, not run.
func Example() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "kafka://broker1:9092,broker2:9092?create_topics=true&partitions=6")
	if err != nil {
		log.Fatal(err) // an unreachable cluster fails here, not at the first Publish
	}
	defer b.Close(ctx)
	if err := b.Publish(ctx, "orders", &bus.Message{Key: "order-1", Payload: []byte(`{"total":42}`)}); err != nil {
		log.Fatal(err)
	}
}

// SASL credentials go in the URL's user info, or in sasl_username and
// sasl_password; they never appear in logs, errors or String.
func Example_sasl() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "kafka://app:secret@broker1:9093?sasl_mechanism=SCRAM-SHA-512&tls=true&tls_ca=/etc/kafka/ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
	log.Println(b) // kafka://broker1:9093
}

// Any librdkafka property passes through with the librdkafka. prefix.
func Example_librdkafka() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "kafka://broker1:9092?linger=1ms&compression=zstd&librdkafka.producer.batch.num.messages=2000")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
}
