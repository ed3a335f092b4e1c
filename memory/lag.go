package memory

import (
	"context"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Lag implements driver.LagReporter: the messages of the topic the group
// has not acknowledged, those after its cursor and those handed out or
// waiting for redelivery. A topic has no partitions.
func (m *member) Lag(context.Context) ([]driver.PartitionLag, error) {
	g, t := m.group, m.group.topic
	t.mu.Lock()
	defer t.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.closed {
		return nil, driver.ErrClosed
	}
	unacked := t.end() - g.cursor
	for _, st := range g.window.Items() {
		if !st.settled {
			unacked++
		}
	}
	return []driver.PartitionLag{{Partition: -1, Messages: unacked}}, nil
}
