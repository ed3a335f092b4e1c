package pulsar

import (
	"context"
	"fmt"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// SubscribeTx implements driver.Transactor by refusing: exactly-once
// outputs need Pulsar transactions whose aborted messages the broker
// never delivers, and pulsar-client-go v0.19.0 sends a transaction's
// messages without the transaction in their metadata, which is what the
// broker filters aborted messages by
// (https://github.com/apache/pulsar-client-go/issues/1498). The outputs of
// a handler run whose transaction aborted (a crash, a failed commit) would
// reach every consumer. TestClientLeavesAbortedMessagesVisible shows it,
// and fails once a client version marks them.
func (c *conn) SubscribeTx(_ context.Context, topic string, _ driver.SubscribeConfig) (driver.TxSubscription, error) {
	full, err := c.topic(topic)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("pulsar: subscribe to %s: transactional subscriptions are not offered: "+
		"pulsar-client-go does not mark the messages it publishes in a transaction, so consumers would see the outputs of aborted ones: %w",
		full, driver.ErrUnsupported)
}
