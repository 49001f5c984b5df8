// Package metrics exports the orchestrator's Prometheus metrics on a private
// registry: rollouts by final status, instances upgraded / rolled back /
// failed, batch sizes and durations, health waits, the unhealthy ratio of
// each scale set (and its two counts, for alerts in integers), and API
// requests; and osupgrade_build_info, the build that is running.
//
// It is fed from Orchestrator.Subscribe events and read-only views of its
// state; it must never change the orchestrator or the fleet.
package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/osupgrade/osupgrade/internal/buildinfo"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Source is what the metrics read: the orchestrator's events and state.
type Source interface {
	Subscribe(func(orchestrator.SetEvent))
	ScaleSets() []string
	View(name string, f func(*orchestrator.SetRecord)) error
}

// Observer reads instances for the unhealthy-ratio gauge; a nil Observer
// leaves the gauge out.
type Observer interface {
	Observe(ctx context.Context, set string) ([]plan.Instance, error)
}

// Metrics is a prometheus.Collector over its own registry.
type Metrics struct {
	src Source
	obs Observer
	reg *prometheus.Registry

	rollouts          *prometheus.CounterVec
	upgraded          *prometheus.CounterVec
	rolledBack        *prometheus.CounterVec
	failed            *prometheus.CounterVec
	batchSize         prometheus.Histogram
	batchDuration     prometheus.Histogram
	healthWait        prometheus.Histogram
	unhealthyRatio    *prometheus.GaugeVec
	instances         *prometheus.GaugeVec
	unhealthy         *prometheus.GaugeVec
	requests          *prometheus.CounterVec
	rolloutsActive    prometheus.Gauge
	unhealthyRatioErr prometheus.Counter

	mu      sync.Mutex
	pending []pendingItem
	// counted is what the instance counters hold of each attempt: they
	// follow its progress as instances settle, not only at batch ends.
	counted map[attemptKey]plan.Counts
	// lastReimage is when each set's batch in progress did its last reimage.
	lastReimage map[string]time.Time
	batchStart  map[string]time.Time
}

type attemptKey struct {
	set     string
	attempt int
}

type pendingItem struct {
	set     string
	attempt int
	batch   int // 1-based, 0 for a finished rollout
}

// New registers the metrics and subscribes to src. obs may be nil.
func New(src Source, obs Observer) *Metrics {
	m := &Metrics{
		src: src, obs: obs, reg: prometheus.NewRegistry(),
		lastReimage: map[string]time.Time{}, batchStart: map[string]time.Time{}, counted: map[attemptKey]plan.Counts{},
		rollouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osupgrade_rollouts_total", Help: "Rollouts that ended, by final status (Completed, Faulted, Cancelled, NotStarted) and who started them.",
		}, []string{"status", "started_by"}),
		upgraded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osupgrade_instances_upgraded_total", Help: "Instances that came back healthy on the target version, by scale set.",
		}, []string{"scale_set"}),
		rolledBack: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osupgrade_instances_rolled_back_total", Help: "Instances rolled back to their previous OS disk and healthy again, by scale set.",
		}, []string{"scale_set"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osupgrade_instances_failed_total", Help: "Instances whose upgrade failed and that are not healthy on any version (no rollback, or the rollback failed), by scale set.",
		}, []string{"scale_set"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "osupgrade_batch_size_instances", Help: "Instances per batch at its start.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "osupgrade_batch_duration_seconds", Help: "Scenario time from a batch's start to its end.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		healthWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "osupgrade_batch_health_wait_seconds", Help: "Scenario time from a batch's last reimage to every member settled (healthy, rolled back or failed).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		unhealthyRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "osupgrade_scale_set_unhealthy_ratio", Help: "Share of a scale set's instances that count as unhealthy now (0 to 1).",
		}, []string{"scale_set"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "osupgrade_scale_set_instances", Help: "Instances of a scale set now.",
		}, []string{"scale_set"}),
		unhealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "osupgrade_scale_set_unhealthy_instances", Help: "Instances of a scale set that count as unhealthy now, as the 20% gates count them (R-PRE-1, R-STOP-2).",
		}, []string{"scale_set"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osupgrade_api_requests_total", Help: "API requests by route pattern, method and HTTP status code.",
		}, []string{"route", "method", "code"}),
		rolloutsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "osupgrade_rollouts_in_progress", Help: "Rollouts rolling forward now.",
		}),
		unhealthyRatioErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "osupgrade_observe_errors_total", Help: "Fleet observations for the unhealthy ratio that failed.",
		}),
	}
	m.reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfoGauge(buildinfo.Read()))
	// A restarted process counts from its start: what a rollout in progress
	// had settled before is not counted again.
	for _, n := range src.ScaleSets() {
		_ = src.View(n, func(rec *orchestrator.SetRecord) {
			if a := rec.Active(); a != nil {
				m.counted[attemptKey{n, a.ID}] = a.Rollout.Progress()
			}
		})
	}
	src.Subscribe(m.onEvent)
	return m
}

// buildInfoGauge is osupgrade_build_info{version,revision,goversion} 1, the
// usual info-metric shape, so a query can join a series to the build that
// produced it. client_golang's collectors.NewBuildInfoCollector would name
// it go_build_info with path and checksum instead of the commit.
func buildInfoGauge(in buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "osupgrade_build_info", Help: "The running osupgrade's build: module version, commit (vcs.revision, -modified when the checkout was) and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": in.Version, "revision": in.Commit(), "goversion": in.GoVersion},
	})
	g.Set(1)
	return g
}

// Registry is the private registry to serve at /metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest counts one API request.
func (m *Metrics) ObserveRequest(route, method string, code int) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
}

// onEvent runs inside the orchestrator's Step under its lock: it only
// queues work for the next collection and records event times.
func (m *Metrics) onEvent(e orchestrator.SetEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e.Kind {
	case plan.EventBatchStarted:
		m.batchStart[e.Set] = e.Time
		m.lastReimage[e.Set] = e.Time
		m.pending = append(m.pending, pendingItem{set: e.Set, attempt: e.Attempt, batch: -e.Batch})
	case plan.EventInstanceReimaged:
		if e.Time.After(m.lastReimage[e.Set]) {
			m.lastReimage[e.Set] = e.Time
		}
	case plan.EventBatchFinished:
		if start, ok := m.batchStart[e.Set]; ok {
			m.batchDuration.Observe(e.Time.Sub(start).Seconds())
			m.healthWait.Observe(e.Time.Sub(m.lastReimage[e.Set]).Seconds())
		}
		delete(m.batchStart, e.Set)
		delete(m.lastReimage, e.Set)
		m.pending = append(m.pending, pendingItem{set: e.Set, attempt: e.Attempt, batch: e.Batch})
	case plan.EventRolloutFinished:
		m.pending = append(m.pending, pendingItem{set: e.Set, attempt: e.Attempt})
	}
}

// sync turns queued events into counts, and brings the instance counters
// up to the progress of every rollout in progress or just ended (outcomes
// never change once settled, so the counts only grow).
func (m *Metrics) sync() {
	m.mu.Lock()
	items := m.pending
	m.pending = nil
	m.mu.Unlock()
	touched := map[attemptKey]bool{}
	for _, it := range items {
		touched[attemptKey{it.set, it.attempt}] = true
		_ = m.src.View(it.set, func(rec *orchestrator.SetRecord) {
			if it.attempt < 1 || it.attempt > len(rec.Attempts) {
				return
			}
			a := rec.Attempts[it.attempt-1]
			r := a.Rollout
			switch {
			case it.batch == 0:
				m.rollouts.WithLabelValues(string(r.Status()), a.StartedBy).Inc()
			case it.batch < 0:
				if b, ok := r.Record(-it.batch); ok {
					m.batchSize.Observe(float64(b.Len()))
				}
			}
		})
	}
	for _, n := range m.src.ScaleSets() {
		_ = m.src.View(n, func(rec *orchestrator.SetRecord) {
			if a := rec.Active(); a != nil {
				touched[attemptKey{n, a.ID}] = true
			}
		})
	}
	for k := range touched {
		_ = m.src.View(k.set, func(rec *orchestrator.SetRecord) {
			if k.attempt < 1 || k.attempt > len(rec.Attempts) {
				return
			}
			c, was := rec.Attempts[k.attempt-1].Rollout.Progress(), m.counted[k]
			add := func(v *prometheus.CounterVec, n int) {
				if n > 0 { // a series appears with its first count
					v.WithLabelValues(k.set).Add(float64(n))
				}
			}
			add(m.upgraded, c.Successful-was.Successful)
			add(m.rolledBack, c.RolledBack-was.RolledBack)
			// Progress counts a rolled-back instance as failed too.
			add(m.failed, (c.Failed-c.RolledBack)-(was.Failed-was.RolledBack))
			m.counted[k] = c
		})
	}
}

// Describe is unchecked: the set of series depends on the scale sets.
func (m *Metrics) Describe(chan<- *prometheus.Desc) {}

// Collect brings the counts up to date and reports every metric.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.sync()
	active := 0
	names := m.src.ScaleSets()
	m.unhealthyRatio.Reset()
	m.instances.Reset()
	m.unhealthy.Reset()
	for _, n := range names {
		_ = m.src.View(n, func(rec *orchestrator.SetRecord) {
			if rec.Active() != nil {
				active++
			}
			if m.obs == nil {
				return
			}
			// Under the orchestrator's lock: the fleet's observation slice is
			// not shared with a concurrent Step.
			insts, err := m.obs.Observe(context.Background(), n)
			if err != nil {
				m.unhealthyRatioErr.Inc()
				return
			}
			bad := plan.CountUnhealthy(insts, rec.Model.Health)
			ratio := 0.0
			if len(insts) > 0 {
				ratio = float64(bad) / float64(len(insts))
			}
			m.unhealthyRatio.WithLabelValues(n).Set(ratio)
			m.instances.WithLabelValues(n).Set(float64(len(insts)))
			m.unhealthy.WithLabelValues(n).Set(float64(bad))
		})
	}
	m.rolloutsActive.Set(float64(active))
	for _, c := range []prometheus.Collector{m.rollouts, m.upgraded, m.rolledBack, m.failed, m.batchSize, m.batchDuration, m.healthWait, m.unhealthyRatio, m.instances, m.unhealthy, m.requests, m.rolloutsActive, m.unhealthyRatioErr} {
		c.Collect(ch)
	}
}
