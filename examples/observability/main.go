// Command observability runs an order pipeline with OpenTelemetry: the
// order service publishes orders inside an HTTP-like request span, the
// payment service charges them and publishes payments, the shipping
// service ships them, and one unreadable order ends in the dead-letter
// topic. It prints each trace as a tree, then the Prometheus metrics it
// serves on /metrics (with the bus health on /healthz).
//
//	go run ./examples/observability                       # in memory, then exit
//	go run ./examples/observability -serve                # keep serving /metrics and /healthz
//	EVENTBUS_URL='kafka://127.0.0.1:9092?create_topics=true' go run ./examples/observability
//	EVENTBUS_URL='pulsar://127.0.0.1:6650?adminURL=http://127.0.0.1:8080' go run ./examples/observability
package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprometheus "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventbus-go/eventbus/bus"

	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/memory"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9464", "address to serve /metrics and /healthz on")
	serve := flag.Bool("serve", false, "keep serving after the run, until interrupted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cmp.Or(os.Getenv("EVENTBUS_URL"), "mem://"), *listen, *serve, os.Stdout); err != nil {
		slog.Error("example failed", "err", err)
		os.Exit(1)
	}
}

// order is the event the order service publishes.
type order struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount_cents"`
}

// run opens url with tracing and metrics, runs the pipeline, prints the
// trace trees and the metrics served on listen, and keeps serving while
// serve is set and ctx is not done.
func run(ctx context.Context, url, listen string, serve bool, out io.Writer) error {
	// Traces: record every span in memory, to print them as trees.
	spans := tracetest.NewInMemoryExporter()
	tracerProvider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tracerProvider.Shutdown(context.WithoutCancel(ctx))

	// Metrics: the OpenTelemetry Prometheus exporter, on a registry of
	// our own.
	registry := prometheus.NewRegistry()
	exporter, err := otelprometheus.New(otelprometheus.WithRegisterer(registry), otelprometheus.WithoutScopeInfo())
	if err != nil {
		return err
	}
	meterProvider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer meterProvider.Shutdown(context.WithoutCancel(ctx))

	b, err := bus.Open(ctx, url,
		bus.TracerProvider(tracerProvider),
		bus.MeterProvider(meterProvider),
		bus.Propagator(propagation.TraceContext{}))
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err = errors.Join(err, b.Close(closeCtx))
	}()

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	mux.Handle("/healthz", b.HealthHandler(5*time.Second))
	listener, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go server.Serve(listener)
	defer server.Close()

	if err := pipeline(ctx, b, tracerProvider.Tracer("orders-api")); err != nil {
		return err
	}
	fmt.Fprintln(out, "== traces ==")
	printTraces(out, spans.GetSpans().Snapshots())
	fmt.Fprintln(out, "\n== http://"+listener.Addr().String()+"/metrics (eventbus and messaging lines) ==")
	if err := printMetrics(ctx, out, "http://"+listener.Addr().String()+"/metrics"); err != nil {
		return err
	}
	if serve {
		fmt.Fprintln(out, "\nserving /metrics and /healthz on http://"+listener.Addr().String()+" until interrupted")
		<-ctx.Done()
	}
	return nil
}

// pipeline places three orders, one of them unreadable, and returns once
// two are shipped and one is dead-lettered.
func pipeline(ctx context.Context, b *bus.Bus, api trace.Tracer) error {
	suffix := strings.ToLower(rand.Text()[:6]) // fresh topics on every run
	ordersTopic, paymentsTopic := "orders-"+suffix, "payments-"+suffix
	var wg sync.WaitGroup
	wg.Add(3)
	var done sync.Map
	finish := func(id string) {
		if _, seen := done.LoadOrStore(id, true); !seen {
			wg.Done()
		}
	}

	// The payment service: charges an order and publishes the payment in
	// the handler's ctx, which continues the trace.
	_, err := b.Subscribe(ctx, ordersTopic, func(ctx context.Context, m *bus.Message) error {
		var o order
		if err := json.Unmarshal(m.Payload, &o); err != nil {
			return bus.Permanent(fmt.Errorf("unreadable order: %w", err))
		}
		return b.Publish(ctx, paymentsTopic, &bus.Message{Key: o.ID, Payload: m.Payload})
	}, bus.Group("payments"), bus.DeadLetter())
	if err != nil {
		return err
	}
	// The shipping service.
	_, err = b.Subscribe(ctx, paymentsTopic, func(_ context.Context, m *bus.Message) error {
		finish(m.Key)
		return nil
	}, bus.Group("shipping"))
	if err != nil {
		return err
	}
	// An operator's view of the dead letters.
	_, err = b.Subscribe(ctx, bus.DefaultDeadLetterTopic(ordersTopic, "payments"), func(_ context.Context, m *bus.Message) error {
		finish(m.Key)
		return nil
	}, bus.Group("operator"))
	if err != nil {
		return err
	}

	// The order service: each order is placed by its own request.
	for _, o := range []order{{"o-1", 4200}, {"o-2", 1999}} {
		payload, _ := json.Marshal(o)
		if err := place(ctx, b, api, ordersTopic, o.ID, payload); err != nil {
			return err
		}
	}
	if err := place(ctx, b, api, ordersTopic, "o-3", []byte("{not json")); err != nil {
		return err
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		return ctx.Err()
	}
	return settled(ctx, b)
}

// settled waits until every subscription has settled all it received and
// its group has no lag, as the health report tells: by then every span of
// the run has ended.
func settled(ctx context.Context, b *bus.Bus) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		idle := true
		for _, sub := range b.Health(ctx).Subscriptions {
			idle = idle && sub.InFlight == 0 && sub.LagMessages <= 0
		}
		if idle {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// place publishes one order inside a request span, as an HTTP handler
// instrumented with OpenTelemetry would.
func place(ctx context.Context, b *bus.Bus, api trace.Tracer, topic, id string, payload []byte) error {
	ctx, span := api.Start(ctx, "POST /orders", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	return b.Publish(ctx, topic, &bus.Message{Key: id, Payload: payload})
}

// printTraces prints each trace as a tree: span name, kind, status and the
// attributes that tell the story.
func printTraces(out io.Writer, spans []sdktrace.ReadOnlySpan) {
	children := make(map[trace.SpanID][]sdktrace.ReadOnlySpan)
	known := make(map[trace.SpanID]bool)
	for _, s := range spans {
		known[s.SpanContext().SpanID()] = true
	}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if parent := s.Parent(); parent.IsValid() && known[parent.SpanID()] {
			children[parent.SpanID()] = append(children[parent.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) }
	slices.SortFunc(roots, byStart)
	var print func(s sdktrace.ReadOnlySpan, depth int)
	print = func(s sdktrace.ReadOnlySpan, depth int) {
		line := fmt.Sprintf("%s%s [%s]", strings.Repeat("  ", depth), s.Name(), s.SpanKind())
		for _, kv := range s.Attributes() {
			switch kv.Key {
			case "messaging.consumer.group.name", "eventbus.message.attempt", "error.type", "eventbus.dead_letter", "messaging.batch.message_count":
				line += fmt.Sprintf(" %s=%s", kv.Key, kv.Value.String())
			}
		}
		if len(s.Links()) > 0 {
			line += fmt.Sprintf(" links=%d", len(s.Links()))
		}
		fmt.Fprintln(out, line)
		kids := children[s.SpanContext().SpanID()]
		slices.SortFunc(kids, byStart)
		for _, c := range kids {
			print(c, depth+1)
		}
	}
	for _, r := range roots {
		fmt.Fprintf(out, "trace %s\n", r.SpanContext().TraceID())
		print(r, 1)
	}
}

// printMetrics fetches url and prints its eventbus and messaging samples.
func printMetrics(ctx context.Context, out io.Writer, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		line := lines.Text()
		if strings.HasPrefix(line, "eventbus_") || strings.HasPrefix(line, "messaging_") && !strings.Contains(line, "_bucket{") {
			fmt.Fprintln(out, line)
		}
	}
	return lines.Err()
}
