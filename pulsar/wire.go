package pulsar

import (
	"maps"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// The Pulsar mapping of a message's CloudEvents attributes (docs/pulsar.md,
// "Wire format"). Every property costs the client a key/value pair to build
// and marshal per message, so attributes travel in Pulsar's own fields
// where it has them and constants do not travel at all:
//
//   - Key is the Pulsar key.
//   - Time is the Pulsar event time (milliseconds since 1970); only a time
//     that does not fit it exactly, with a part below the millisecond or
//     before 1970, also travels as a ce_time property.
//   - ID travels as the ce_id property: Pulsar has no field for it.
//   - specversion 1.0, type eventbus.message and source eventbus are implied
//     when absent, as decoding (driver.DecodeHeader) already implies the
//     last two; a ce_type or ce_source the message sets travels.
//   - Header travels as properties, and DeliverAt as eventbus-deliver-at
//     beside Pulsar's own deliver-at time, which consumers do not see.
//
// A structured-mode message carries its attributes in its payload; only its
// headers are written. Messages with the five ce_* properties of earlier
// versions and of other producers read as before.

// producerMessage is the Pulsar message that carries m.
func producerMessage(m *driver.Message) *pulsar.ProducerMessage {
	pm := &pulsar.ProducerMessage{
		Payload:   m.Payload,
		Key:       m.Key,
		EventTime: eventTime(m.Time),
		DeliverAt: m.DeliverAt,
	}
	if driver.IsStructured(m.Header) {
		pm.Properties = maps.Clone(m.Header)
		return pm
	}
	props := make(map[string]string, len(m.Header)+1)
	props[driver.HeaderID] = m.ID
	if pm.EventTime.IsZero() || m.Time.Nanosecond()%int(time.Millisecond) != 0 {
		props[driver.HeaderTime] = m.Time.Format(driver.TimeFormat)
	}
	if !m.DeliverAt.IsZero() {
		props[driver.HeaderDeliverAt] = m.DeliverAt.Format(driver.TimeFormat)
	}
	for k, v := range m.Header {
		switch k {
		case driver.HeaderSpecVersion, driver.HeaderID, driver.HeaderTime, driver.HeaderDeliverAt:
			// Written above from the message's own fields.
		default:
			props[k] = v
		}
	}
	pm.Properties = props
	return pm
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
