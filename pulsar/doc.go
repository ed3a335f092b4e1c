// Package pulsar is the Apache Pulsar driver for eventbus, built on
// pulsar-client-go. Programs do not use it directly: they import it for its
// side effect and open a URL with package bus,
//
//	import _ "github.com/eventbus-go/eventbus/pulsar"
//
//	b, err := bus.Open(ctx, "pulsar://127.0.0.1:6650?tenant=acme&namespace=orders")
//
// A bare topic name such as "orders" becomes
// persistent://<tenant>/<namespace>/orders; full topic names are used as
// they are. A named group is a durable Key_Shared subscription, so
// competing consumers keep per-key order; SubscriptionType picks another
// type. Without a group the subscription is non-durable and starts at the
// latest message.
//
// Messages travel as CloudEvents binary mode mapped onto Pulsar's own
// fields, with as few properties as round-tripping allows (wire.go and
// docs/pulsar.md, "Wire format"). Each partition of a topic has a
// producer of its own (producer.go), and a Publish has the batches of the
// partitions it sent to sent at once unless two flushes of the partition
// are already waiting for the broker (conn.flushEagerly), so a lone
// message does not wait for the batching delay, nor for other partitions.
//
// The driver only moves messages and carries out acks and nacks: retries
// and dead letters are the bus error policy, the same as on every backend,
// so Pulsar's own dead-letter policy is not used. docs/pulsar.md lists
// every URL parameter.
//
// Escape hatches: Bus.As reaches the pulsar.Client and Message.As the
// pulsar.ConsumerMessage (or pulsar.Message) of a delivery.
package pulsar
