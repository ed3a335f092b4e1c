package memory

import (
	"context"
	"fmt"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// CheckHealth implements driver.HealthChecker: an in-process broker is
// always reachable, so a connection is healthy until it is closed.
func (c *conn) CheckHealth(context.Context) (string, error) {
	if c.closed.IsClosed() {
		return "closed", driver.ErrClosed
	}
	return "in-process broker", nil
}

// CheckHealth implements driver.HealthChecker: a member is healthy until
// it is closed; it reports how many messages it holds.
func (m *member) CheckHealth(context.Context) (string, error) {
	g, t := m.group, m.group.topic
	t.mu.Lock()
	defer t.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.closed {
		return "closed", driver.ErrClosed
	}
	held := 0
	g.inFlight(func(_ int64, f flight) {
		if f.member == m {
			held++
		}
	})
	return fmt.Sprintf("member of %d, holding %d messages", len(g.members), held), nil
}
