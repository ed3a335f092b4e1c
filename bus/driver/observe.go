package driver

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"
)

// LagReporter is implemented by a Subscription that can tell how far its
// group is behind the end of the topic. Package bus reports it as the
// eventbus.consumer.lag metric and in health reports.
type LagReporter interface {
	// Lag returns one entry per partition the subscription consumes (one
	// entry with Partition -1 where the backend has no partitions). It
	// may ask the broker, within ctx.
	Lag(ctx context.Context) ([]PartitionLag, error)
}

// PartitionLag is a group's backlog on one partition.
type PartitionLag struct {
	// Partition is the partition id, -1 for a backend without partitions.
	Partition int32
	// Messages counts the messages published to the partition that the
	// group has not acknowledged yet: those not yet received and those
	// received but not settled.
	Messages int64
	// Oldest is the time of the oldest of them (its CloudEvents time, else
	// the backend's), where the driver reads it (Admin.GroupLag does); zero
	// when there are none or it is not known.
	Oldest time.Time
}

// HealthChecker is implemented by a Conn or a Subscription that can tell
// whether it is connected and working. Package bus asks it for
// (*bus.Bus).Health, which readiness and liveness probes call.
type HealthChecker interface {
	// CheckHealth returns nil when healthy, else an error saying what is
	// wrong; detail describes the state in a few words either way (such as
	// the assigned partitions). It may ask the broker, within ctx.
	CheckHealth(ctx context.Context) (detail string, err error)
}

// FirstServer splits the first host of a comma-separated "host:port" list
// into the server.address and server.port a driver reports in
// Capabilities; port is defaultPort when the host names none.
func FirstServer(hosts string, defaultPort int) (address string, port int) {
	first, _, _ := strings.Cut(hosts, ",")
	host, portText, err := net.SplitHostPort(first)
	if err != nil {
		return first, defaultPort
	}
	port, err = strconv.Atoi(portText)
	if err != nil {
		port = defaultPort
	}
	return host, port
}
