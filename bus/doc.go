// Package bus is the portable eventbus API: publish and consume events on
// Kafka, Pulsar or in memory through one small set of types, with the
// backend chosen by a URL.
//
// # Getting started
//
// [Open] takes a URL such as "mem://", "kafka://host:9092" or
// "pulsar://host:6650". The backend's driver joins by blank import, like a
// database/sql driver; the memory driver needs no setup and no cgo:
//
//	import _ "github.com/eventbus-go/eventbus/memory"
//
//	b, err := bus.Open(ctx, "mem://")
//	defer b.Close(ctx)
//	err = b.Publish(ctx, "orders", &bus.Message{Key: "order-1", Payload: data})
//	sub, err := b.Subscribe(ctx, "orders", handle, bus.Group("billing"), bus.Concurrency(8))
//
// [Bus.Publish] returns once the backend holds the messages durably.
// [Bus.Subscribe] runs a [Handler] for each message in the background until
// [Subscription.Close] or [Bus.Close]. The examples of this package run on
// mem:// and show each feature; examples/quickstart is a whole program.
//
// # Options
//
// Every constructor takes functional options of its own type: [OpenOption]
// for Open, [SubscribeOption] for Subscribe, [RequesterOption] for
// [Bus.NewRequester]. Options are named for what they set ([Logger],
// [Group], [Concurrency], [ReplyTimeout]); a value an option cannot use
// makes the constructor fail with an error that names the option, before
// anything runs.
//
// # Handlers and the error policy
//
// A [Handler] returns an error: nil acknowledges the message; an error goes
// to the subscription's error policy: retries with backoff ([Retry], a
// [RetryPolicy]), then the dead-letter topic ([DeadLetter],
// [DeadLetterTopic]) or, without one, another run every HoldInterval of
// the [RetryPolicy] until it succeeds: a message is never skipped.
// [Permanent] skips the retries; a panic becomes a [PanicError]. The policy
// is one function (decide in decide.go), so no choice of options can
// mis-order it: shutdown and a withdrawn message never dead-letter, they
// give the message back to the backend. [Middleware] wraps the handler
// inside the policy ([Use]); package bus/middleware has Dedup, which makes
// a handler idempotent.
//
// A dead letter keeps the message's key, payload and headers and adds the
// failure in headers ([HeaderDeadLetterError],
// [HeaderDeadLetterOriginalTopic] and the others); [ParseDeadLetter] reads
// them, [Bus.DeadLetters] lists a dead-letter topic and
// [Bus.ReplayDeadLetters] publishes letters back to their topic.
//
// # Guarantees
//
// The same on every backend, and checked on each by package bus/bustest:
//   - at-least-once: a message is acked only after its handler succeeded or
//     after it is durably in the dead-letter topic; nothing is skipped;
//   - per-key order: within a group, messages with the same Key are handled
//     one at a time in publish order, also with [Concurrency] above 1; a
//     failing message holds back only its own key;
//   - graceful shutdown that duplicates nothing it could finish: Close
//     stops fetching, runs what it had received, gives back what waits to
//     retry, commits, leaves the group, closes consumers, and flushes
//     producers last. Handlers' context is cancelled only when Close's
//     context is done.
//
// # Groups
//
// [Group] names a durable consumer group: its members share the work, and
// every group gets every message. A new group starts at the earliest
// message the backend keeps. Without a group a subscription is ephemeral:
// it starts at the latest message and remembers nothing.
//
// # Typed topics and codecs
//
// [Topic] pairs a topic name with a [Codec]: [Topic.Publish] encodes,
// [Topic.Subscribe] hands the handler the decoded value, and a message
// that does not decode fails with [ErrDecode], which is permanent. Package
// bus/codec has JSON and Protobuf codecs.
//
// # Wire format
//
// Messages travel in CloudEvents binary mode: id, time, type, source and
// specversion as ce_* headers, and the codec's content-type. Handlers also
// read messages in CloudEvents structured mode (content-type
// application/cloudevents+json) from other producers into the same fields,
// and plain messages with an ID and a time from the backend;
// [StructuredMode] makes Publish write structured mode.
//
// # Retry stages
//
// [RetryStages] parks a message whose in-process retries are used up in
// retry stage topics ([RetryStageTopic]), to run again after each stage's
// delay, instead of holding back its key in the subscription; after the
// last stage comes the dead-letter topic. Later messages of a parked key
// are parked behind it, so per-key order holds while the member that
// parked them runs; retrystage.go says what a restart or a rebalance
// changes.
//
// # Delays
//
// A [Message] with a DeliverAt reaches no handler before then. Memory and
// Pulsar hold it in the broker; on Kafka, Publish writes it to
// [DelayTopic] and the subscriptions forward it when due (delay.go).
//
// # Transactions
//
// [Transactional] makes a consume-transform-produce handler exactly-once
// where the backend has transactions (Kafka, memory): what the handler
// publishes with its ctx commits atomically with the ack of its message
// (tx.go). A backend without them fails Subscribe with [ErrUnsupported].
//
// # Request/reply
//
// A [Requester] ([Bus.NewRequester]) sends a request and waits for its
// reply, matched by the [HeaderCorrelationID] header; a handler answers
// with [Reply]. [RequestTopic] types both sides.
//
// # Observability
//
// Telemetry follows the OpenTelemetry messaging semantic conventions
// (telemetry.go, tracing.go, metrics.go): a send span per Publish, a
// process span per handler run whose ctx the handler gets, the trace
// context carried in message headers, the conventional metrics plus
// retries, dead letters, nacks, in-flight messages and consumer lag in
// messages and seconds ([Subscription.Lag]). The global OpenTelemetry
// providers are used unless [TracerProvider], [MeterProvider] or
// [Propagator] say otherwise; with none set, telemetry costs next to
// nothing. [Bus.Health] and [Bus.HealthHandler] answer readiness and
// liveness probes.
//
// # Errors
//
// Failures wrap sentinels ([ErrClosed], [ErrInvalidURL], [ErrInvalidTopic],
// [ErrMessageTooLarge], [ErrTopicNotFound], [ErrUnsupported] and the
// others), so errors.Is works the same on every backend; a [PublishError]
// names the messages of a batch that failed.
//
// # Escape hatches
//
// [Bus.As] and [Message.As] reach the driver's native client and message
// types for what the portable API does not cover.
package bus
