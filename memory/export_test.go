package memory

import (
	"context"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// ConnOf exposes a driver connection to b for the driver section of the
// conformance suite.
func ConnOf(b *Broker) driver.Conn { return b.connect() }

// PublishDriver publishes msgs through the driver, as a producer that is not
// package bus would: nothing fills their ID or time.
func (b *Broker) PublishDriver(ctx context.Context, topic string, msgs ...driver.Message) error {
	return b.connect().Publish(ctx, topic, msgs)
}
