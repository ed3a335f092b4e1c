package memory

import "github.com/eventbus-go/eventbus/bus/driver"

// ConnOf exposes a driver connection to b for the driver section of the
// conformance suite.
func ConnOf(b *Broker) driver.Conn { return b.connect() }
