// Package interop tests eventbus against software it did not write, through
// the real test brokers: the official CloudEvents Go SDK and its Kafka
// binding (binary and structured mode, both directions), Kafka's own Java
// console producer and consumer, and plain pulsar-client-go producers and
// consumers. It holds only tests; `make test` runs them.
//
// The Kafka console tools come from Maven Central like the broker:
// scripts/brokers.sh resolves them into .cache/ and exports their classpath
// folder as EVENTBUS_TEST_KAFKA_TOOLS.
package interop
