// Package kafka is the Apache Kafka driver of eventbus, built on
// confluent-kafka-go (librdkafka). Import it for its side effect and open
// a bus with a kafka:// URL:
//
//	import _ "github.com/eventbus-go/eventbus/kafka"
//
//	b, err := bus.Open(ctx, "kafka://broker1:9092,broker2:9092?create_topics=true")
//
// The URL names the bootstrap brokers and takes the parameters documented
// in docs/kafka.md; any librdkafka property can be passed as
// "librdkafka.<property>=<value>". Unknown parameters are errors.
//
// Publishing uses one shared idempotent producer (acks=all); Publish waits
// for every delivery report. Consumers are polled
// without blocking in C (poll.go), so that no cgo call of the driver holds
// one of Go's Ps while it waits. The subscriptions of a bus to one group
// share one consumer (member.go), a member of the group subscribed to all
// their topics; each subscription commits only the
// contiguous run of acknowledged offsets of each partition (the acked
// offsets beyond it travel in the commit's metadata), withdraws a revoked
// partition's messages, and queues a nacked message again without a seek. Transactional subscriptions (bus.Transactional) commit the
// outputs of acked messages with their offsets in Kafka transactions, one
// transactional producer per subscription (tx.go). Delivery semantics (dispatch, per-key order, retries, dead
// letters) live in package bus, not here.
//
// This is the only eventbus package that needs cgo.
package kafka
