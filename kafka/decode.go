package kafka

import (
	"strconv"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// setPositionID gives a delivered record whose producer set no ce_id the ID
// "<topic>/<partition>/<offset>", such as "orders/3/1042": unique within the
// cluster and the same on every redelivery and in every group, so that
// middleware.Dedup and dead letters can rely on it.
func setPositionID(d *driver.Message, m *kafka.Message) {
	if d.ID != "" {
		return
	}
	var topic string
	if m.TopicPartition.Topic != nil {
		topic = *m.TopicPartition.Topic
	}
	var buf [128]byte // on the stack unless the topic name is long
	b := append(buf[:0], topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(m.TopicPartition.Partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(m.TopicPartition.Offset), 10)
	d.ID = string(b)
}
