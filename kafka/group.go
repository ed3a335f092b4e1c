package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// assignAtEnd assigns every partition of the topic at its current end, so
// an ephemeral subscription sees exactly what is published after Subscribe.
func (s *subscription) assignAtEnd(ctx context.Context) error {
	tps, err := s.endOffsets(ctx)
	for err != nil && isRetriable(err) {
		// A topic created a moment ago may have no leaders yet.
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		}
		tps, err = s.endOffsets(ctx)
	}
	if err != nil {
		return err
	}
	s.assigned(tps)
	return s.consumer.Assign(tps)
}

// endOffsets lists every partition of the topic at its end offset.
func (s *subscription) endOffsets(ctx context.Context) ([]kafka.TopicPartition, error) {
	md, err := s.conn.metadata(ctx, &s.topic)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	specs := make(map[kafka.TopicPartition]kafka.OffsetSpec)
	for _, p := range md.Topics[s.topic].Partitions {
		specs[kafka.TopicPartition{Topic: &s.topic, Partition: p.ID}] = kafka.LatestOffsetSpec
	}
	res, err := s.conn.admin.ListOffsets(ctx, specs)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	tps := make([]kafka.TopicPartition, 0, len(res.ResultInfos))
	for tp, info := range res.ResultInfos {
		if info.Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("end offset of partition %d: %w", tp.Partition, info.Error)
		}
		tps = append(tps, kafka.TopicPartition{Topic: &s.topic, Partition: tp.Partition, Offset: info.Offset})
	}
	return tps, nil
}

// isRetriable tells errors that go away by themselves, such as those of a
// partition whose leader is being elected.
func isRetriable(err error) bool {
	var kerr kafka.Error
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr.Code() {
	case kafka.ErrNotLeaderForPartition, kafka.ErrLeaderNotAvailable, kafka.ErrUnknownTopicOrPart:
		return true
	}
	return kerr.IsRetriable()
}

// rebalance serves the group's assignment changes inside Poll and Close.
func (s *subscription) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		s.assigned(s.withCommitted(c, e.Partitions))
		if err := c.IncrementalAssign(e.Partitions); err != nil {
			s.logger.Error("kafka: cannot take assigned partitions", "partitions", ids(e.Partitions), "err", err)
		}
	case kafka.RevokedPartitions:
		s.revoke(e.Partitions, c.AssignmentLost())
		if err := c.IncrementalUnassign(e.Partitions); err != nil {
			s.logger.Error("kafka: cannot release revoked partitions", "partitions", ids(e.Partitions), "err", err)
		}
	}
	return nil
}

// withCommitted looks up the group's commits of newly assigned partitions,
// whose metadata names the offsets the previous owner acked beyond them.
// Without it the partitions still start at their commit, and those offsets
// are handled again.
func (s *subscription) withCommitted(c *kafka.Consumer, tps []kafka.TopicPartition) []kafka.TopicPartition {
	committed, err := c.Committed(tps, int(s.conn.cfg.sessionTimeout.Milliseconds()))
	if err != nil {
		s.logger.Warn("kafka: cannot read the group's commits; offsets acked beyond them will be handled again",
			"partitions", ids(tps), "err", err)
		return tps
	}
	return committed
}

func (s *subscription) assigned(tps []kafka.TopicPartition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tp := range tps {
		p := newPartition(tp.Partition)
		if tp.Metadata != nil && tp.Offset >= 0 {
			p.resume(int64(tp.Offset), *tp.Metadata)
		}
		s.parts[tp.Partition] = p
	}
	s.logger.Debug("kafka: partitions assigned", "partitions", ids(tps))
}

// revoke withdraws partitions: bus gives back their messages that had not
// started, in-flight handlers get up to revoke_timeout to finish, and what
// was acked is committed, unless the assignment was lost to another member
// already. When the subscription closes, bus has settled everything before.
func (s *subscription) revoke(tps []kafka.TopicPartition, lost bool) {
	s.mu.Lock()
	revoked := make([]*partition, 0, len(tps))
	for _, tp := range tps {
		if p := s.parts[tp.Partition]; p != nil {
			p.revoked = true
			close(p.withdrawn)
			revoked = append(revoked, p)
			delete(s.parts, tp.Partition)
		}
	}
	s.queue = slices.DeleteFunc(s.queue, func(q polled) bool { return q.p.revoked })
	closing := s.stopping
	s.mu.Unlock()

	if !lost && !closing {
		s.awaitSettled(revoked, tps)
	}

	s.mu.Lock()
	var commit []kafka.TopicPartition
	for _, p := range revoked {
		p.gone = true
		if tp, ok := s.toCommit(p); ok {
			commit = append(commit, tp)
		}
	}
	s.mu.Unlock()
	if lost {
		s.logger.Warn("kafka: partitions lost to another member; not committing", "partitions", ids(tps))
		return
	}
	if s.ephemeral || len(commit) == 0 {
		return
	}
	// librdkafka commits its stored offsets of revoked partitions on
	// unassign, and at Close; storing keeps it from undoing this commit.
	if _, err := s.consumer.StoreOffsets(commit); err != nil {
		s.logger.Debug("kafka: store offsets on revoke", "partitions", ids(commit), "err", err)
	}
	if closing {
		return // Close commits what is stored, then leaves the group
	}
	if _, err := s.consumer.CommitOffsets(commit); err != nil {
		s.logger.Warn("kafka: commit on revoke failed; messages after the last commit will be redelivered", "partitions", ids(commit), "err", err)
	}
	s.logger.Debug("kafka: partitions revoked and committed", "partitions", ids(tps))
}

// awaitSettled waits up to revoke_timeout for bus to settle the revoked
// partitions' deliveries.
func (s *subscription) awaitSettled(revoked []*partition, tps []kafka.TopicPartition) {
	deadline := time.NewTimer(s.conn.cfg.revokeTimeout)
	defer deadline.Stop()
	for !s.allSettled(revoked) {
		select {
		case <-s.settled:
		case <-deadline.C:
			s.logger.Warn("kafka: handlers of revoked partitions still running at revoke_timeout; their messages will be redelivered",
				"partitions", ids(tps), "revoke_timeout", s.conn.cfg.revokeTimeout)
			return
		}
	}
}

func (s *subscription) allSettled(ps []*partition) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		if p.unsettled > 0 {
			return false
		}
	}
	return true
}

// toCommit is p's offset to commit, with the acked offsets beyond it as
// metadata, when it changed since it was last stored. Callers hold mu.
func (s *subscription) toCommit(p *partition) (kafka.TopicPartition, bool) {
	if s.ephemeral || p.store < 0 {
		return kafka.TopicPartition{}, false
	}
	metadata := p.commitMetadata()
	if p.store == p.stored && metadata == p.storedMetadata {
		return kafka.TopicPartition{}, false
	}
	p.stored, p.storedMetadata = p.store, metadata
	return kafka.TopicPartition{Topic: &s.topic, Partition: p.id, Offset: kafka.Offset(p.store), Metadata: &metadata}, true
}
