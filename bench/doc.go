// Package bench measures eventbus beside the libraries its users would
// pick instead, on the same brokers and with the same messages: raw
// confluent-kafka-go, franz-go and Watermill (watermill-kafka, on sarama)
// on Kafka; raw pulsar-client-go on Pulsar; Watermill's GoChannel in
// memory.
//
// It is a module of its own so that these libraries never become
// dependencies of eventbus. A Contender wraps one library as a Client; a
// Job runs one scenario (PublishBatch, PublishConcurrent, Latency,
// LatencyLow, Consume, PublishOne, Subscriptions) with one contender and
// returns a Result: messages per second, CPU time per message, latency
// percentiles, Go scheduler latency, threads and memory. The command
// cmd/bench-compare (make bench-compare) runs every Job in a process of
// its own, several times, and writes the medians as Markdown tables with
// what is not equal between the contenders.
package bench
