package bench

import (
	"bufio"
	"math"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used so far,
// in all its threads, Go's and a C library's alike.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// schedLatencies reads the Go runtime's histogram of the time goroutines
// waited to run: a cgo call or a busy loop that holds a P shows here.
func schedLatencies() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	h := s[0].Value.Float64Histogram()
	return &metrics.Float64Histogram{Counts: slices.Clone(h.Counts), Buckets: slices.Clone(h.Buckets)}
}

// histogramQuantile is the q quantile of what was counted in after and not
// yet in before (snapshots of one cumulative histogram), as the upper bound
// of the bucket it falls in.
func histogramQuantile(before, after *metrics.Float64Histogram, q float64) time.Duration {
	if before == nil || after == nil || len(before.Counts) != len(after.Counts) {
		return 0
	}
	var total uint64
	for i := range after.Counts {
		total += after.Counts[i] - before.Counts[i]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range after.Counts {
		seen += after.Counts[i] - before.Counts[i]
		if seen >= rank {
			upper := after.Buckets[i+1]
			if math.IsInf(upper, 1) {
				upper = after.Buckets[i]
			}
			return time.Duration(upper * float64(time.Second))
		}
	}
	return 0
}

// procStatus reads the OS threads and resident memory of this process from
// /proc/self/status (Linux); zero elsewhere.
func procStatus() (threads int, rssBytes int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "Threads":
			threads = int(n)
		case "VmRSS":
			rssBytes = n << 10 // kB
		}
	}
	return threads, rssBytes
}

// Percentiles holds the percentiles of a set of durations, in milliseconds.
type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// latencyOf summarises samples; it sorts them.
func latencyOf(samples []time.Duration) *Percentiles {
	if len(samples) == 0 {
		return nil
	}
	slices.Sort(samples)
	at := func(q float64) float64 {
		i := min(len(samples)-1, int(math.Ceil(q*float64(len(samples))))-1)
		return ms(samples[max(i, 0)])
	}
	return &Percentiles{Count: len(samples), P50: at(0.50), P99: at(0.99), Max: ms(samples[len(samples)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
