package pulsar

import "time"

// OpenConn exposes the driver's opener to the driver section of the
// conformance suite.
var OpenConn = open

func init() {
	// TestPublishReachesPartitionsAddedLater waits for discovery.
	partitionDiscoveryInterval = time.Second
}
