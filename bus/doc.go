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
// dead-letter topic (DeadLetter) or, without one, a nack so the backend
// redelivers it. Permanent skips the retries; a panic becomes an error.
//
// Guarantees, the same on every backend:
//   - at-least-once: a message is acked only after its handler succeeded or
//     after it is durably in the dead-letter topic; nothing is skipped;
//   - per-key order: within a group, messages with the same Key are handled
//     one at a time in publish order, also with Concurrency(n) > 1;
//     retries hold back only their own key;
//   - graceful shutdown: Close stops fetching, lets in-flight handlers
//     finish, commits, closes consumers, and flushes producers last.
//
// Typed events go through Topic[T] with a Codec[T] (see package bus/codec).
// Messages travel in CloudEvents binary mode (ce_* headers).
//
// Observability is built in, following the OpenTelemetry messaging semantic
// conventions (telemetry.go, tracing.go, metrics.go): a send span per
// Publish, a process span per handler run whose ctx the handler gets, the
// trace context carried in message headers, the conventional metrics plus
// retries, dead letters, nacks, in-flight messages and consumer lag in
// messages and seconds (Subscription.Lag). The global OpenTelemetry
// providers are used unless WithTracerProvider, WithMeterProvider or
// WithPropagator say otherwise; with none set, telemetry costs next to
// nothing. Bus.Health and Bus.HealthHandler answer readiness and liveness
// probes (health.go).
package bus
