package kafka

// OpenConn exposes the driver's opener to the driver section of the
// conformance suite and to tests that drive a Conn directly.
var OpenConn = open
