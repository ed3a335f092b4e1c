// Package middleware holds general-purpose bus.Middleware: wrappers around
// a bus.Handler that a subscription installs with bus.Use.
//
// Start with Dedup, which makes a consumer idempotent: a message that was
// already handled successfully is acknowledged without running the handler
// again, so a redelivery (a lost ack, a rebalance, a producer that
// published the same message twice) does not repeat its side effect. Its
// state lives in a Store; MemoryStore keeps it in the process, and a small
// interface lets Redis or SQL take its place.
//
// Retries and dead letters are not middleware: they are the subscription's
// error policy (bus.Retry, bus.DeadLetter), which sits outside every
// middleware, so a retry runs the whole chain again.
package middleware
