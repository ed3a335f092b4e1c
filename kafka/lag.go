package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Lag implements driver.LagReporter for the partitions assigned to this
// member: each partition's high watermark less the group's position in
// it, the oldest offset not yet acked, less the offsets acked beyond it.
// That position is the driver's own where it has polled messages of the
// partition, so an ack shows at once, not only after the next commit;
// otherwise it is the
// group's committed offset, or the start of the partition for a group
// that has committed nothing (a new group starts at the earliest
// message). An ephemeral subscription that has received nothing of a
// partition is at its end.
func (s *subscription) Lag(ctx context.Context) ([]driver.PartitionLag, error) {
	s.mu.Lock()
	positions := make(map[int32]int64, len(s.parts))
	ackedBeyond := make(map[int32][]int64, len(s.parts))
	for id, p := range s.parts {
		positions[id], ackedBeyond[id] = s.position(p)
	}
	s.mu.Unlock()
	if len(positions) == 0 {
		return nil, nil
	}

	ends, err := s.listOffsets(ctx, positions, kafka.LatestOffsetSpec)
	if err != nil {
		return nil, fmt.Errorf("kafka: lag of %q: end offsets: %w", s.topic, err)
	}
	var unknown []kafka.TopicPartition
	for id, pos := range positions {
		if pos < 0 {
			unknown = append(unknown, kafka.TopicPartition{Topic: &s.topic, Partition: id})
		}
	}
	if len(unknown) > 0 {
		if err := s.committedPositions(ctx, unknown, positions, ends); err != nil {
			return nil, fmt.Errorf("kafka: lag of %q: %w", s.topic, err)
		}
	}
	lags := make([]driver.PartitionLag, 0, len(positions))
	for id, pos := range positions {
		behind := ends[id] - pos
		for _, o := range ackedBeyond[id] {
			if o < ends[id] {
				behind--
			}
		}
		lags = append(lags, driver.PartitionLag{Partition: id, Messages: max(0, behind)})
	}
	return lags, nil
}

// position is the oldest offset of p not yet acked, or -1 when this member
// has polled none of it yet, and the offsets it (or the partition's
// previous owner) acked beyond that. Callers hold mu.
func (s *subscription) position(p *partition) (int64, []int64) {
	if p.store < 0 {
		return -1, nil
	}
	return p.store, p.ackedBeyondStore()
}

// committedPositions fills in the positions of tps from the group's
// committed offsets, the partitions' start where it has none, or their end
// for an ephemeral subscription.
func (s *subscription) committedPositions(ctx context.Context, tps []kafka.TopicPartition, positions, ends map[int32]int64) error {
	if s.ephemeral {
		for _, tp := range tps {
			positions[tp.Partition] = ends[tp.Partition]
		}
		return nil
	}
	committed, err := s.m.consumer.Committed(tps, timeoutMs(ctx))
	if err != nil {
		return fmt.Errorf("committed offsets: %w", err)
	}
	none := make(map[int32]int64)
	for _, tp := range committed {
		if tp.Offset >= 0 {
			positions[tp.Partition] = int64(tp.Offset)
		} else {
			none[tp.Partition] = -1
		}
	}
	if len(none) == 0 {
		return nil
	}
	starts, err := s.listOffsets(ctx, none, kafka.EarliestOffsetSpec)
	if err != nil {
		return fmt.Errorf("start offsets: %w", err)
	}
	for id := range none {
		positions[id] = starts[id]
	}
	return nil
}

// listOffsets asks the cluster for the offsets spec names (the end or the
// start) of the partitions in ids.
func (s *subscription) listOffsets(ctx context.Context, ids map[int32]int64, spec kafka.OffsetSpec) (map[int32]int64, error) {
	specs := make(map[kafka.TopicPartition]kafka.OffsetSpec, len(ids))
	for id := range ids {
		specs[kafka.TopicPartition{Topic: &s.topic, Partition: id}] = spec
	}
	res, err := s.conn.admin.ListOffsets(ctx, specs)
	if err != nil {
		return nil, err
	}
	offsets := make(map[int32]int64, len(res.ResultInfos))
	for tp, info := range res.ResultInfos {
		if info.Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("partition %d: %w", tp.Partition, info.Error)
		}
		offsets[tp.Partition] = int64(info.Offset)
	}
	return offsets, nil
}

// timeoutMs is what is left of ctx in milliseconds, for librdkafka calls
// that take a timeout rather than a context; 10s without a deadline.
func timeoutMs(ctx context.Context) int {
	if deadline, ok := ctx.Deadline(); ok {
		return int(max(time.Until(deadline), time.Millisecond).Milliseconds())
	}
	return 10_000
}
