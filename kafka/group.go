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
	s.mu.Lock()
	s.assigned(tps)
	s.mu.Unlock()
	return s.m.consumer.Assign(tps)
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
func (m *member) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		loading := m.assigned(e.Partitions)
		if err := c.IncrementalAssign(e.Partitions); err != nil {
			m.logger.Error("kafka: cannot take assigned partitions", "partitions", e.Partitions, "err", err)
			return nil
		}
		// Hold the partitions until the previous owner's acked offsets
		// are known; the group's commits cannot be read inside this
		// callback under every group protocol. Partitions of a topic no
		// subscription serves stay paused until they are revoked.
		if err := c.Pause(e.Partitions); err != nil {
			m.logger.Debug("kafka: pause new partitions", "partitions", e.Partitions, "err", err)
		}
		if len(loading) > 0 {
			go m.resumeFromCommits(loading)
		}
	case kafka.RevokedPartitions:
		m.logger.Debug("kafka: partitions revoked", "partitions", e.Partitions, "lost", c.AssignmentLost())
		m.revoke(e.Partitions, c.AssignmentLost())
		if err := c.IncrementalUnassign(e.Partitions); err != nil {
			m.logger.Error("kafka: cannot release revoked partitions", "partitions", e.Partitions, "err", err)
		}
	}
	return nil
}

// byTopic splits partitions by topic.
func byTopic(tps []kafka.TopicPartition) map[string][]kafka.TopicPartition {
	out := make(map[string][]kafka.TopicPartition)
	for _, tp := range tps {
		out[*tp.Topic] = append(out[*tp.Topic], tp)
	}
	return out
}

// assigned hands new partitions to their topics' subscriptions, and
// returns them by subscription. A partition whose topic has no
// subscription, one that left as it came, is counted as an orphan.
func (m *member) assigned(tps []kafka.TopicPartition) map[*subscription][]kafka.TopicPartition {
	loading := make(map[*subscription][]kafka.TopicPartition)
	m.mu.Lock()
	defer m.mu.Unlock()
	for topic, tps := range byTopic(tps) {
		s := m.subs[topic]
		if s == nil {
			m.orphans[topic] += len(tps)
			continue
		}
		s.assigned(tps)
		loading[s] = tps
	}
	return loading
}

// resumeFromCommits reads the group's commits of newly assigned
// partitions, whose metadata names the offsets the previous owner acked
// beyond them, and lets poll resume the partitions. Without it they still
// start at their commit, and those offsets are handled again. One call
// reads the commits of every subscription's new partitions: each
// blocking call holds an OS thread. A transactional subscription waits
// until it has read every partition's commit, and seeks each partition
// there itself rather than trusting librdkafka's own lookup, which has
// started a partition taken over from a killed member at its beginning:
// everything before the commit would run again, and its outputs commit a
// second time.
func (m *member) resumeFromCommits(loading map[*subscription][]kafka.TopicPartition) {
	var tps []kafka.TopicPartition
	var tx *subscription // a transactional member's only subscription
	for s, stps := range loading {
		tps = append(tps, stps...)
		if s.tx != nil {
			tx = s
		}
	}
	committed, err := m.committedOffsets(tps)
	for err != nil && tx != nil {
		tx.logger.Warn("kafka: cannot read the group's commits; trying again", "partitions", ids(tps), "err", err)
		select {
		case <-time.After(time.Second):
		case <-tx.stop:
			return
		}
		committed, err = m.committedOffsets(tps)
	}
	commits := byTopic(committed)
	m.mu.Lock()
	defer m.mu.Unlock()
	for s, stps := range loading {
		s.resumeFrom(stps, commits[s.topic], err)
	}
}

// resumeFrom sets where newly assigned partitions start, from the group's
// commits of them, and lets poll seek and resume them. Callers hold mu.
func (s *subscription) resumeFrom(tps, committed []kafka.TopicPartition, err error) {
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
func (m *member) committedOffsets(tps []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	committed, err := m.consumer.Committed(tps, int(commitsTimeout.Milliseconds()))
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

// assigned adds partitions to the assignment. Callers hold mu.
func (s *subscription) assigned(tps []kafka.TopicPartition) {
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
// already. A subscription that is closing has had everything settled by
// bus before it called Close.
func (m *member) revoke(tps []kafka.TopicPartition, lost bool) {
	revoked := make(map[*subscription][]*partition)
	m.mu.Lock()
	for topic, tps := range byTopic(tps) {
		s := m.subs[topic]
		if s == nil {
			if m.orphans[topic] -= len(tps); m.orphans[topic] <= 0 {
				delete(m.orphans, topic)
			}
			continue
		}
		revoked[s] = s.withdraw(tps)
	}
	m.mu.Unlock()

	if !lost {
		m.awaitSettled(revoked)
	}
	for s, ps := range revoked {
		s.release(ps, lost)
	}
}

// withdraw takes partitions out of the assignment and drops their queued
// messages. Callers hold mu.
func (s *subscription) withdraw(tps []kafka.TopicPartition) []*partition {
	revoked := make([]*partition, 0, len(tps))
	for _, tp := range tps {
		if p := s.parts[tp.Partition]; p != nil {
			p.revoked = true
			close(p.withdrawn)
			revoked = append(revoked, p)
			delete(s.parts, tp.Partition)
		}
	}
	s.queue.DeleteFunc(func(q polled) bool { return q.p.revoked })
	return revoked
}

// release ends s's hold on revoked partitions: what was acked is
// committed, unless they were lost, and nothing of theirs afterwards.
func (s *subscription) release(revoked []*partition, lost bool) {
	if s.tx != nil {
		s.revokeTx(revoked, lost)
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
	closing := s.m.closing
	s.mu.Unlock()
	if lost {
		s.logger.Warn("kafka: partitions lost to another member; not committing", "partitions", partitionIDs(revoked))
		return
	}
	if s.ephemeral || len(commit) == 0 {
		return
	}
	// librdkafka commits its stored offsets of revoked partitions on
	// unassign, and at Close; storing keeps it from undoing this commit.
	if _, err := s.m.consumer.StoreOffsets(commit); err != nil {
		s.logger.Debug("kafka: store offsets on revoke", "partitions", ids(commit), "err", err)
	}
	if closing {
		return // closing the consumer commits what is stored, then leaves the group
	}
	if _, err := s.m.consumer.CommitOffsets(commit); err != nil {
		s.logger.Warn("kafka: commit on revoke failed; messages after the last commit will be redelivered", "partitions", ids(commit), "err", err)
	}
	s.logger.Debug("kafka: partitions revoked and committed", "partitions", partitionIDs(revoked))
}

// awaitSettled waits up to revoke_timeout for bus to settle the revoked
// partitions' deliveries of subscriptions that are not closing.
func (m *member) awaitSettled(revoked map[*subscription][]*partition) {
	deadline := time.NewTimer(m.conn.cfg.revokeTimeout)
	defer deadline.Stop()
	for !m.allSettled(revoked) {
		select {
		case <-m.settled:
		case <-deadline.C:
			m.logger.Warn("kafka: handlers of revoked partitions still running at revoke_timeout; their messages will be redelivered",
				"revoke_timeout", m.conn.cfg.revokeTimeout)
			return
		}
	}
}

func (m *member) allSettled(revoked map[*subscription][]*partition) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s, ps := range revoked {
		for _, p := range ps {
			if !s.leaving && p.unsettled > 0 {
				return false
			}
		}
	}
	return true
}

// partitionIDs lists the partitions' numbers, ascending.
func partitionIDs(ps []*partition) []int32 {
	out := make([]int32, len(ps))
	for i, p := range ps {
		out[i] = p.id
	}
	slices.Sort(out)
	return out
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
