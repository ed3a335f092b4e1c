package memory

import (
	"context"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// PublishDriver publishes msgs through the driver, as a producer that is not
// package bus would: nothing fills their ID or time.
func (b *Broker) PublishDriver(ctx context.Context, topic string, msgs ...driver.Message) error {
	return b.connect().Publish(ctx, topic, msgs)
}
