// Package bus is the portable eventbus API: publish and consume events on
// Kafka, Pulsar or in memory through one small set of types, with the
// backend chosen by a URL.
//
// Start with Open, which takes a URL such as "mem://", "kafka://host:9092" or
// "pulsar://host:6650"; the driver joins by blank import, like database/sql:
//
//	import _ "github.com/eventbus-go/eventbus/memory"
//
//	b, err := bus.Open(ctx, "mem://")
//	defer b.Close(ctx)
//	err = b.Publish(ctx, "orders", &bus.Message{Key: "order-1", Payload: data})
//	sub, err := b.Subscribe(ctx, "orders", handle, bus.Group("billing"), bus.Concurrency(8))
//
// A Handler returns an error: nil acknowledges the message; an error goes to
// the subscription's error policy: retries with backoff (Retry), then the
// dead-letter topic (DeadLetter) or, without one, another run every
// HoldInterval until it succeeds. Permanent skips the retries; a panic becomes
// an error. The policy is one function (see decide in decide.go): shutdown
// and a revoked partition never dead-letter, they give the message back.
//
// Guarantees, the same on every backend:
//   - at-least-once: a message is acked only after its handler succeeded or
//     after it is durably in the dead-letter topic; nothing is skipped;
//   - per-key order: within a group, messages with the same Key are handled
//     one at a time in publish order, also with Concurrency(n) > 1; a
//     failing message holds back only its own key;
//   - graceful shutdown that duplicates nothing it could finish: Close
//     stops fetching, runs what it had received, gives back what waits to
//     retry, commits, leaves the group, closes consumers, and flushes
//     producers last.
//
// Transactional makes a consume-transform-produce handler exactly-once
// where the backend has transactions (Kafka, memory): what the handler
// publishes with its ctx is committed atomically with the ack of its
// message (tx.go).
//
// Message.DeliverAt delays a message (see delay.go for how each backend
// holds it), and RetryStages parks failing messages in delayed retry stage
// topics instead of holding their key (see retrystage.go).
//
// Typed events go through Topic[T] with a Codec[T] (see package bus/codec).
// Messages travel in CloudEvents binary mode (ce_* headers). Handlers see
// messages in CloudEvents structured mode (content-type
// application/cloudevents+json) from other producers read into the same
// fields, and plain messages with an ID and a time from the backend.
//
// Observability is built in, following the OpenTelemetry messaging semantic
// conventions (telemetry.go, tracing.go, metrics.go): a send span per
// Publish, a process span per handler run whose ctx the handler gets, the
// trace context carried in message headers, the conventional metrics plus
// retries, dead letters, nacks, in-flight messages and consumer lag in
// messages and seconds (Subscription.Lag). The global OpenTelemetry
// providers are used unless TracerProvider, MeterProvider or
// Propagator say otherwise; with none set, telemetry costs next to
// nothing. Bus.Health and Bus.HealthHandler answer readiness and liveness
// probes (health.go).
//
// Request/reply goes through a Requester (Bus.NewRequester) and Reply, or
// typed through RequestTopic.
package bus
