package bus

// WithoutTelemetry opens a bus with no tracing, metrics or lag bookkeeping
// at all, as before they existed: the baseline of the telemetry benchmark.
func WithoutTelemetry() Option {
	return func(o *openOptions) { o.noTelemetry = true }
}
