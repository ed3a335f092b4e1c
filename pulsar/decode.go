package pulsar

import (
	"strconv"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// setFallbacks completes a delivered message whose producer was not
// eventbus. Without a ce_id it gets the ID "<topic>/<ledger>:<entry>:<partition>:<batch>"
// from the message ID, such as "persistent://public/default/orders/12:40:0:3":
// unique within the cluster and the same on every redelivery and in every
// subscription. Without a ce_time its Time is the producer's event time, or
// the broker's publish time when the producer set none: the client reports
// an unset event time as the Unix epoch, never a real event time.
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

// eventTime is the Pulsar event time of a message published at t: Pulsar
// keeps unsigned milliseconds since 1970, where 0 means none, so an earlier
// time is left out (it travels in ce_time only).
func eventTime(t time.Time) time.Time {
	if t.UnixMilli() <= 0 {
		return time.Time{}
	}
	return t
}
