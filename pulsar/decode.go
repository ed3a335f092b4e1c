package pulsar

import (
	"strconv"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// decodeMessage is the message msg carries, the inverse of
// producerMessage: ce_* and other properties through driver.DecodeHeader,
// then setFallbacks.
func decodeMessage(msg pulsar.Message) driver.Message {
	m := driver.Message{Key: msg.Key(), Payload: msg.Payload()}
	for k, v := range msg.Properties() {
		driver.DecodeHeader(&m, k, v)
	}
	setFallbacks(&m, msg)
	return m
}

// setFallbacks completes the ID and Time of a message without ce_id or
// ce_time. Without a ce_id (a producer other than eventbus) it gets the ID
// "<topic>/<ledger>:<entry>:<partition>:<batch>" from the message ID, such
// as "persistent://public/default/orders/12:40:0:3": unique within the
// cluster and the same on every redelivery and in every subscription.
// Without a ce_time (eventbus writes none for a time in whole milliseconds)
// its Time is the event time, or the broker's publish time when the
// producer set none: the client reports an unset event time as the Unix
// epoch, never a real event time.
func setFallbacks(d *driver.Message, msg pulsar.Message) {
	if d.ID == "" {
		id := msg.ID()
		b := make([]byte, 0, len(msg.Topic())+48)
		b = append(b, msg.Topic()...)
		b = append(b, '/')
		b = strconv.AppendInt(b, id.LedgerID(), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, id.EntryID(), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(id.PartitionIdx()), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(id.BatchIdx()), 10)
		d.ID = string(b)
	}
	if d.Time.IsZero() {
		d.Time = msg.EventTime()
		if d.Time.IsZero() || d.Time.Equal(time.Unix(0, 0)) {
			d.Time = msg.PublishTime()
		}
	}
}
