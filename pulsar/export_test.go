package pulsar

// OpenConn exposes the driver's opener to the driver section of the
// conformance suite.
var OpenConn = open
