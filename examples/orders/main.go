// Command orders is an order pipeline of three services on one bus: the
// order service publishes OrderCreated, the payment service charges each
// order and publishes PaymentCompleted, and the shipping service ships the
// paid orders. One order leaves the order service with a broken payload;
// the payment service cannot read it, so it ends in the dead-letter topic
// with the reason, while the other orders complete.
//
//	go run ./examples/orders                                   # in memory
//	EVENTBUS_URL='kafka://127.0.0.1:9092?create_topics=true' go run ./examples/orders
//	EVENTBUS_URL=pulsar://127.0.0.1:6650 go run ./examples/orders
package main

import "github.com/eventbus-go/eventbus/examples/internal/example"

func main() { example.Main(run) }
