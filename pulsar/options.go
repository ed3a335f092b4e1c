package pulsar

import (
	"fmt"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/eventbus-go/eventbus/bus"
)

// Type is a Pulsar subscription type, chosen with SubscriptionType.
type Type int

// The subscription types. KeyShared is the default for a group.
const (
	// KeyShared spreads keys over the group's consumers; each key goes to
	// one consumer at a time, so per-key order holds across consumers.
	KeyShared Type = iota + 1
	// Shared spreads messages round-robin over the group's consumers:
	// more parallelism, no per-key order across consumers.
	Shared
	// Failover gives all messages to one consumer of the group and fails
	// over to the next when it leaves.
	Failover
	// Exclusive allows a single consumer in the group; another is refused.
	Exclusive
)

// String is the type's name, such as "Key_Shared".
func (t Type) String() string {
	switch t {
	case KeyShared:
		return "Key_Shared"
	case Shared:
		return "Shared"
	case Failover:
		return "Failover"
	case Exclusive:
		return "Exclusive"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

func (t Type) native() (pulsar.SubscriptionType, bool) {
	switch t {
	case KeyShared:
		return pulsar.KeyShared, true
	case Shared:
		return pulsar.Shared, true
	case Failover:
		return pulsar.Failover, true
	case Exclusive:
		return pulsar.Exclusive, true
	}
	return 0, false
}

// subscriptionTypeOption travels through bus.DriverOption.
type subscriptionTypeOption struct{ t Type }

// SubscriptionType picks the Pulsar subscription type of a Subscribe, e.g.
//
//	b.Subscribe(ctx, "orders", h, bus.Group("billing"), pulsar.SubscriptionType(pulsar.Shared))
//
// A group defaults to KeyShared; a subscription without a group to
// Exclusive on a non-durable subscription of its own.
func SubscriptionType(t Type) bus.SubscribeOption {
	return bus.DriverOption(subscriptionTypeOption{t})
}
