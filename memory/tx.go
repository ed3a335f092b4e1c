package memory

import (
	"context"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// SubscribeTx implements driver.Transactor: a transactional member appends
// a handler run's outputs and acks its message in one call, so nothing in
// the process sees one without the other afterwards.
func (c *conn) SubscribeTx(ctx context.Context, topic string, cfg driver.SubscribeConfig) (driver.TxSubscription, error) {
	sub, err := c.Subscribe(ctx, topic, cfg)
	if err != nil {
		return nil, err
	}
	return &txMember{member: sub.(*member), broker: c.broker}, nil
}

// txMember is a member whose acks carry outputs.
type txMember struct {
	*member
	broker *Broker
}

// AckWith implements driver.TxSubscription. A delivery this member no
// longer holds (given back at Close) publishes nothing. Outputs wait for
// room in a full topic like Publish does.
func (m *txMember) AckWith(r *driver.Receipt, outputs []driver.Output) error {
	if len(outputs) > 0 && m.holds(r.Offset) {
		err := driver.EachTopic(outputs, func(topic string, msgs []driver.Message) error {
			return m.broker.topic(topic).append(context.Background(), msgs)
		})
		if err != nil {
			return err
		}
	}
	return m.Ack(r)
}

// holds reports whether offset is in flight at m.
func (m *member) holds(offset int64) bool {
	g := m.group
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.state(offset)
	return st != nil && st.member == m
}
