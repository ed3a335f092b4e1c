package bus

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// HealthReport is the state of a bus and its subscriptions, for readiness
// and liveness probes. What "connected" means depends on the backend:
//
//   - mem:// is in-process: healthy until closed.
//   - kafka:// asks the cluster for the metadata of each subscription's
//     topic over the bus's connection; a subscription is unhealthy once its
//     consumer stopped (a fatal error), and its detail lists the partitions
//     assigned to it (none is healthy: a group may have more members than
//     partitions, or be rebalancing).
//   - pulsar:// asks each subscription's consumer for the topic's last
//     message id, a round trip on the consumer's own broker connection, so
//     a consumer cut off from its broker is unhealthy.
type HealthReport struct {
	// Healthy is true when the bus and every subscription are.
	Healthy bool `json:"healthy"`
	// Backend names the bus, as String does.
	Backend string `json:"backend"`
	// Error says what is wrong with the connection, empty when healthy.
	Error string `json:"error,omitempty"`
	// Detail describes the connection's state in a few words.
	Detail string `json:"detail,omitempty"`
	// Subscriptions reports on every running subscription.
	Subscriptions []SubscriptionHealth `json:"subscriptions"`
}

// SubscriptionHealth is the state of one subscription.
type SubscriptionHealth struct {
	Topic   string `json:"topic"`
	Group   string `json:"group,omitempty"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	Detail  string `json:"detail,omitempty"`
	// InFlight counts the messages received and not yet settled.
	InFlight int `json:"in_flight"`
	// LagMessages is Lag.Messages: -1 when the backend cannot tell.
	LagMessages int64 `json:"lag_messages"`
	// LagSeconds is Lag.Age in seconds.
	LagSeconds float64 `json:"lag_seconds"`
}

// Health checks the bus and each subscription, asking the backend within
// ctx (give it a deadline: a probe must answer in time). Lag is reported,
// never judged: how much lag is too much is the program's call.
func (b *Bus) Health(ctx context.Context) HealthReport {
	b.mu.RLock()
	closed := b.closed
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		if s.cfg.companion.origin == "" { // companions report through their subscription
			subs = append(subs, s)
		}
	}
	b.mu.RUnlock()

	report := HealthReport{Backend: b.name, Subscriptions: make([]SubscriptionHealth, len(subs))}
	if closed {
		report.Error = ErrClosed.Error()
	} else {
		report.Detail, report.Error = checkHealth(ctx, b.conn)
	}
	report.Healthy = report.Error == ""
	for i, s := range subs {
		report.Subscriptions[i] = s.health(ctx)
		report.Healthy = report.Healthy && report.Subscriptions[i].Healthy
	}
	slices.SortFunc(report.Subscriptions, func(a, b SubscriptionHealth) int {
		return strings.Compare(a.Topic+"\x00"+a.Group, b.Topic+"\x00"+b.Group)
	})
	return report
}

func (s *Subscription) health(ctx context.Context) SubscriptionHealth {
	h := SubscriptionHealth{Topic: s.topic, Group: s.cfg.group}
	select {
	case <-s.done:
		h.Error = "closed"
		if err := s.Err(); err != nil {
			h.Error = err.Error()
		}
		return h
	default:
	}
	h.Detail, h.Error = checkHealth(ctx, s.driverSub)
	h.Healthy = h.Error == ""
	lag, err := s.Lag(ctx)
	if err != nil && !errors.Is(err, ErrLagUnknown) && h.Healthy {
		h.Detail = strings.TrimSpace(h.Detail + "; " + err.Error())
	}
	h.InFlight, h.LagMessages, h.LagSeconds = lag.InFlight, lag.Messages, lag.Age.Seconds()
	// What runs beside it (retry stages, the delay forwarder) is part of
	// it: the subscription is healthy only when they are.
	s.mu.Lock()
	companions := slices.Clone(s.companions)
	s.mu.Unlock()
	for _, c := range companions {
		if ch := c.health(ctx); !ch.Healthy {
			h.Healthy = false
			h.Error = strings.TrimPrefix(h.Error+"; "+c.topic+": "+ch.Error, "; ")
		}
	}
	return h
}

// checkHealth asks v, a driver Conn or Subscription, when it can tell.
func checkHealth(ctx context.Context, v any) (detail, problem string) {
	checker, ok := v.(driver.HealthChecker)
	if !ok {
		return "", ""
	}
	detail, err := checker.CheckHealth(ctx)
	if err != nil {
		return detail, err.Error()
	}
	return detail, ""
}

// HealthHandler serves Health as JSON for probes: status 200 when healthy,
// 503 otherwise. Each request gets at most timeout (5s when 0).
func (b *Bus) HealthHandler(timeout time.Duration) http.Handler {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		report := b.Health(ctx)
		w.Header().Set("Content-Type", "application/json")
		if !report.Healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report)
	})
}
