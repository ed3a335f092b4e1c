package memory

import (
	"strconv"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// completeAt gives a message published through the driver without an ID,
// as no eventbus Publish does, what a wire backend would: its headers read
// as CloudEvents headers (ce_id, ce_time, ...), then, for what they do not
// give, the ID "<topic>/<offset>", such as "orders/41", unique within the
// broker and the same on every redelivery, and the time it was appended.
func (t *topicLog) completeAt(m *driver.Message, offset int64) {
	if m.ID != "" {
		return
	}
	if len(m.Header) > 0 {
		header := m.Header
		m.Header = nil
		for k, v := range header {
			driver.DecodeHeader(m, k, v)
		}
	}
	if m.ID == "" {
		m.ID = t.name + "/" + strconv.FormatInt(offset, 10)
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
}
