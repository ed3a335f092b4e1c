package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// rebalanceProtocols is the broker setting that lists the consumer group
// protocols it serves; Kafka 4.0 and later include "consumer" (KIP-848).
const rebalanceProtocols = "group.coordinator.rebalance.protocols"

// chooseGroupProtocol returns the group_protocol parameter when it was
// given, else "consumer" (KIP-848) when the broker serves it and "classic"
// when it does not or cannot say. The answer is kept for the connection.
func (c *conn) chooseGroupProtocol(ctx context.Context) string {
	if c.cfg.groupProtocol != "" {
		return c.cfg.groupProtocol
	}
	c.groupProtocolMu.Lock()
	defer c.groupProtocolMu.Unlock()
	if c.groupProtocol != "" {
		return c.groupProtocol
	}
	protocols, err := c.brokerConfig(ctx, rebalanceProtocols)
	switch {
	case err != nil:
		// Not cached: the next Subscribe asks again.
		c.logger.Debug("kafka: cannot read the broker's group protocols; using the classic protocol", "err", err)
		return "classic"
	case slices.Contains(strings.Split(protocols, ","), "consumer"):
		c.groupProtocol = "consumer"
	default:
		c.groupProtocol = "classic"
	}
	return c.groupProtocol
}

// brokerConfig reads one setting of a broker of the cluster.
func (c *conn) brokerConfig(ctx context.Context, name string) (string, error) {
	md, err := c.metadata(ctx, nil)
	if err != nil {
		return "", err
	}
	if len(md.Brokers) == 0 {
		return "", errors.New("the cluster names no broker")
	}
	res, err := c.admin.DescribeConfigs(ctx, []kafka.ConfigResource{
		{Type: kafka.ResourceBroker, Name: strconv.Itoa(int(md.Brokers[0].ID))},
	})
	if err != nil {
		return "", err
	}
	if len(res) != 1 || res[0].Error.Code() != kafka.ErrNoError {
		return "", fmt.Errorf("describe broker %d: %v", md.Brokers[0].ID, res)
	}
	entry, ok := res[0].Config[name]
	if !ok {
		return "", nil // a broker that predates the setting
	}
	return entry.Value, nil
}

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
// partition whose leader is being elected, or of a topic created a moment
// ago whose leader epoch the asked broker does not know yet. A partition's
// error in a result carries no retriable flag of its own.
func isRetriable(err error) bool {
	var kerr kafka.Error
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr.Code() {
	case kafka.ErrNotLeaderForPartition, kafka.ErrLeaderNotAvailable, kafka.ErrUnknownTopicOrPart,
		kafka.ErrUnknownLeaderEpoch, kafka.ErrFencedLeaderEpoch:
		return true
	}
	return kerr.IsRetriable()
}

// rebalance serves the group's assignment changes inside Poll and Close.
func (s *subscription) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		s.assigned(e.Partitions)
		if err := c.IncrementalAssign(e.Partitions); err != nil {
			s.logger.Error("kafka: cannot take assigned partitions", "partitions", ids(e.Partitions), "err", err)
			return nil
		}
		// Hold the partitions until the previous owner's acked offsets
		// are known; the group's commits cannot be read inside this
		// callback under every group protocol.
		if err := c.Pause(e.Partitions); err != nil {
			s.logger.Debug("kafka: pause new partitions", "partitions", ids(e.Partitions), "err", err)
		}
		go s.resumeFromCommits(e.Partitions)
	case kafka.RevokedPartitions:
		s.revoke(e.Partitions, c.AssignmentLost())
		if err := c.IncrementalUnassign(e.Partitions); err != nil {
			s.logger.Error("kafka: cannot release revoked partitions", "partitions", ids(e.Partitions), "err", err)
		}
	}
	return nil
}

// resumeFromCommits reads the group's commits of newly assigned
// partitions, whose metadata names the offsets the previous owner acked
// beyond them, and lets poll resume the partitions. Without it they still
// start at their commit, and those offsets are handled again. A
// transactional subscription waits until it has read every partition's
// commit, and seeks each partition there itself rather than trusting
// librdkafka's own lookup, which has started a partition taken over from a
// killed member at its beginning: everything before the commit would run
// again, and its outputs commit a second time.
func (s *subscription) resumeFromCommits(tps []kafka.TopicPartition) {
	committed, err := s.committedOffsets(tps)
	for err != nil && s.tx != nil {
		s.logger.Warn("kafka: cannot read the group's commits; trying again", "partitions", ids(tps), "err", err)
		select {
		case <-time.After(time.Second):
		case <-s.stop:
			return
		}
		committed, err = s.committedOffsets(tps)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && !s.stopping {
		s.logger.Warn("kafka: cannot read the group's commits; offsets acked beyond them will be handled again",
			"partitions", ids(tps), "err", err)
	}
	for _, tp := range committed {
		p := s.parts[tp.Partition]
		if p == nil || !p.loading {
			continue
		}
		if tp.Metadata != nil && tp.Offset >= 0 {
			p.resume(int64(tp.Offset), *tp.Metadata)
		}
		// Records fetched before the pause took hold were thrown away
		// by it, and librdkafka may resume after them: seek back to
		// what this member has not polled yet, or where the group
		// starts the partition (poll seeks, then resumes). A
		// transactional member starts at the commit it read: what it
		// polled before is in no committed transaction.
		p.restarting = true
		switch {
		case p.next >= 0 && s.tx == nil:
			p.seekTo = p.next
		case tp.Offset >= 0:
			p.seekTo = int64(tp.Offset)
		default:
			p.seekTo = int64(kafka.OffsetBeginning) // auto.offset.reset=earliest
		}
	}
	for _, tp := range tps {
		if p := s.parts[tp.Partition]; p != nil {
			p.loading = false // poll seeks and resumes it
		}
	}
}

// committedOffsets reads the group's commits of tps. An error of any one
// partition fails it: an unreadable commit must not pass for none.
func (s *subscription) committedOffsets(tps []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	committed, err := s.consumer.Committed(tps, int(commitsTimeout.Milliseconds()))
	if err != nil {
		return nil, err
	}
	for _, tp := range committed {
		if tp.Error != nil {
			return nil, fmt.Errorf("partition %d: %w", tp.Partition, tp.Error)
		}
	}
	return committed, nil
}

// commitsTimeout bounds the wait for the group's commits of new partitions.
const commitsTimeout = 10 * time.Second

func (s *subscription) assigned(tps []kafka.TopicPartition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tp := range tps {
		p := newPartition(tp.Partition)
		p.loading, p.paused = !s.ephemeral, !s.ephemeral
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
	if s.tx != nil {
		s.revokeTx(revoked, tps, lost)
		return
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
	metadata, _ := p.commitMetadata()
	if p.store == p.stored && metadata == p.storedMetadata {
		return kafka.TopicPartition{}, false
	}
	p.stored, p.storedMetadata = p.store, metadata
	return kafka.TopicPartition{Topic: &s.topic, Partition: p.id, Offset: kafka.Offset(p.store), Metadata: &metadata}, true
}
