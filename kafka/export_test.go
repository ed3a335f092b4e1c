package kafka

import (
	"context"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// OpenConn exposes the driver's opener to the driver section of the
// conformance suite and to tests that drive a Conn directly.
var OpenConn = open

// AssumeTopicServed makes c skip its first-use check that topic's leaders
// serve it, as if the check had passed before the leaders changed.
func AssumeTopicServed(c driver.Conn, topic string) {
	cn := c.(*conn)
	cn.topicsMu.Lock()
	defer cn.topicsMu.Unlock()
	cn.topics[topic] = topicServed
}

// EnsureServed runs the check Publish makes on its first use of topic.
func EnsureServed(ctx context.Context, c driver.Conn, topic string) error {
	return c.(*conn).ensureTopic(ctx, topic, topicServed)
}
