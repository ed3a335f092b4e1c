package driver_test

import (
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/stretchr/testify/assert"
)

func TestDeliverAtRoundTrips(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 0, 0, 123456789, time.UTC)
	in := driver.Message{ID: "id", Time: at.Add(-time.Hour), DeliverAt: at, Header: map[string]string{"a": "b"}}
	wire := map[string]string{}
	driver.EncodeHeaders(&in, func(k, v string) { wire[k] = v })
	assert.Equal(t, "2026-03-01T08:00:00.123456789Z", wire[driver.HeaderDeliverAt])

	var out driver.Message
	for k, v := range wire {
		driver.DecodeHeader(&out, k, v)
	}
	assert.True(t, out.DeliverAt.Equal(at), "DeliverAt %v", out.DeliverAt)
	assert.Equal(t, map[string]string{"a": "b"}, out.Header, "the header does not show among user headers")
}

func TestNoDeliverAtNoHeader(t *testing.T) {
	wire := map[string]string{}
	// A stale header in Header does not override the field.
	driver.EncodeHeaders(&driver.Message{ID: "id", Header: map[string]string{driver.HeaderDeliverAt: "2020-01-01T00:00:00Z"}},
		func(k, v string) { wire[k] = v })
	assert.NotContains(t, wire, driver.HeaderDeliverAt)
}

func TestUnparsableDeliverAtIsKept(t *testing.T) {
	var m driver.Message
	driver.DecodeHeader(&m, driver.HeaderDeliverAt, "tomorrow")
	assert.True(t, m.DeliverAt.IsZero())
	assert.Equal(t, "tomorrow", m.Header[driver.HeaderDeliverAt])
}
