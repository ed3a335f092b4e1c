package pulsar_test

import (
	"context"
	"log"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/pulsar"
)

// A pulsar:// (or pulsar+ssl://) URL names the broker's service address;
// tenant, namespace and credentials are parameters (docs/pulsar.md lists
// them). This example needs a running broker, so it is compiled, not run.
func Example() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "pulsar://broker1:6650?tenant=acme&namespace=billing&adminURL=http://broker1:8080")
	if err != nil {
		log.Fatal(err) // an unreachable broker fails here, not at the first Publish
	}
	defer b.Close(ctx)
	// "orders" is persistent://acme/billing/orders.
	if err := b.Publish(ctx, "orders", &bus.Message{Key: "order-1", Payload: []byte(`{"total":42}`)}); err != nil {
		log.Fatal(err)
	}
}

// Token authentication over TLS; the token never appears in logs, errors
// or String.
func Example_token() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "pulsar+ssl://broker1:6651?tokenFile=/run/secrets/pulsar-token&tlsTrustCertsFile=/etc/pulsar/ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
}

// A group subscribes Key_Shared by default; SubscriptionType picks another
// Pulsar subscription type.
func ExampleSubscriptionType() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "pulsar://broker1:6650")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
	_, err = b.Subscribe(ctx, "audit-log", func(ctx context.Context, m *bus.Message) error {
		return nil
	}, bus.Group("archiver"), pulsar.SubscriptionType(pulsar.Failover))
	if err != nil {
		log.Fatal(err)
	}
}
