// Package failover holds the fault tests that take brokers down under a
// running bus: a broker of the 3-node Kafka cluster killed and restarted
// mid-stream, and a Pulsar restart mid-stream. They count lost messages
// (there must be none), duplicates and per-key order violations, and print
// how long the bus stalled.
//
// They need brokers of their own or kill shared ones, so `make test` runs
// them apart from the other tests: the Kafka cluster test inside
// `scripts/brokers.sh run kafka-cluster`, the Pulsar restart test with the
// other broker restart tests (EVENTBUS_TEST_RESTART=1) after everything else.
package failover
