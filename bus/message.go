package bus

import (
	"reflect"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Message is an event: what Publish sends and what a Handler receives.
type Message struct {
	// ID identifies the event (CloudEvents id). Publish fills an empty ID
	// with a UUIDv7. A delivered message always has one: when its producer
	// set none, the backend's position of the message, such as
	// "<topic>/<partition>/<offset>" on Kafka (see the README's wire
	// format), the same on every redelivery.
	ID string
	// Key orders and routes: messages with the same Key are handled one at
	// a time in publish order within a group. Empty means no ordering.
	Key string
	// Payload is the event body; a Codec fills it for typed topics.
	Payload []byte
	// Header carries user headers and the content-type set by codecs.
	// Names starting with "ce_" are CloudEvents attributes.
	Header map[string]string
	// Time is when the event happened. Publish fills a zero Time with the
	// current time to the millisecond (the precision of Kafka and Pulsar
	// timestamps).
	// A delivered message whose producer set no event time has the
	// backend's time of the message (Kafka's record timestamp, Pulsar's
	// publish time).
	Time time.Time
	// DeliverAt, when later than now, delays the message: no handler runs
	// it before this time (by the consumer's clock). Zero means at once.
	// It travels in the eventbus-deliver-at header and is set on delivery
	// of a delayed message. See the package documentation on delays.
	DeliverAt time.Time

	// Topic is the topic the message was delivered from; set on delivery.
	Topic string
	// Group is the consumer group it was delivered to, empty for an
	// ephemeral subscription; set on delivery.
	Group string
	// Attempt is 1 on the first delivery and counts up across retries and
	// redeliveries, where the backend can tell; set on delivery.
	Attempt int

	receipt driver.Receipt
	// inFlightEntry is the message's entry in its subscription's in-flight log.
	inFlightEntry uint64
	// turnWait is when it began to wait for its key's turn in a retry
	// stage; see Subscription.waitTurn.
	turnWait time.Time
}

// As sets target to the backend's native message when it can, for what the
// portable API does not cover: *kafka.Message on kafka://,
// pulsar.ConsumerMessage on pulsar://. It reports whether it did.
func (m *Message) As(target any) bool { return setNative(m.receipt.Native, target) }

// Position is where the backend keeps a delivered message: its partition
// and its offset in it, each -1 where the backend has no such notion (a
// Pulsar message has no offset, a mem:// topic no partitions), and both -1
// for a message that was not delivered.
func (m *Message) Position() (partition int32, offset int64) {
	if m.Topic == "" {
		return -1, -1
	}
	return m.receipt.Partition, m.receipt.Offset
}

// setNative assigns v to *target when target is a non-nil pointer to a type
// v is assignable to.
func setNative(v, target any) bool {
	if v == nil || target == nil {
		return false
	}
	ptr := reflect.ValueOf(target)
	if ptr.Kind() != reflect.Pointer || ptr.IsNil() {
		return false
	}
	val := reflect.ValueOf(v)
	if !val.Type().AssignableTo(ptr.Elem().Type()) {
		return false
	}
	ptr.Elem().Set(val)
	return true
}
