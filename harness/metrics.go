package harness

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/metrics"
)

// metricTotals is what the Prometheus counters of I-6 say: instances by
// outcome and scale set, rollouts by final status.
type metricTotals struct {
	instances map[string]*outcomeCounts // by scale set
	rollouts  map[string]int            // by status
}

type outcomeCounts struct{ upgraded, rolledBack, failed int }

func (c *outcomeCounts) add(o outcomeCounts) {
	c.upgraded += o.upgraded
	c.rolledBack += o.rolledBack
	c.failed += o.failed
}

func newMetricTotals() metricTotals {
	return metricTotals{instances: map[string]*outcomeCounts{}, rollouts: map[string]int{}}
}

func (t metricTotals) set(name string) *outcomeCounts {
	c := t.instances[name]
	if c == nil {
		c = &outcomeCounts{}
		t.instances[name] = c
	}
	return c
}

// add folds u into t: the counters of an orchestrator that was killed and
// replaced (orchestrator-restart) start again at zero in its successor, as
// they do in a restarted `osupgrade serve`.
func (t metricTotals) add(u metricTotals) {
	for name, c := range u.instances {
		t.set(name).add(*c)
	}
	for s, n := range u.rollouts {
		t.rollouts[s] += n
	}
}

// gatherMetrics reads the counters the way a scraper would: through the
// registry, in Prometheus's exposition model.
func gatherMetrics(m *metrics.Metrics) (metricTotals, error) {
	t := newMetricTotals()
	mfs, err := m.Registry().Gather()
	if err != nil {
		return t, fmt.Errorf("gather the orchestrator's metrics: %w", err)
	}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			n := int(mt.GetCounter().GetValue())
			switch mf.GetName() {
			case "osupgrade_instances_upgraded_total":
				t.set(label(mt, "scale_set")).upgraded += n
			case "osupgrade_instances_rolled_back_total":
				t.set(label(mt, "scale_set")).rolledBack += n
			case "osupgrade_instances_failed_total":
				t.set(label(mt, "scale_set")).failed += n
			case "osupgrade_rollouts_total":
				t.rollouts[label(mt, "status")] += n
			}
		}
	}
	return t, nil
}

// attachMetrics gives the world's orchestrator the metrics `osupgrade serve`
// exports, folding a replaced orchestrator's counters into the totals.
func (w *World) attachMetrics(o *orchestrator.Orchestrator) error {
	if w.metrics != nil {
		t, err := gatherMetrics(w.metrics)
		if err != nil {
			return err
		}
		w.metricsBefore.add(t)
	} else {
		w.metricsBefore = newMetricTotals()
	}
	w.metrics = metrics.New(o, nil)
	return nil
}

// checkMetrics is I-6's second half: the counters against the history
// entries of every rollout (checkHistory bounds the last one by what the
// fleet did). Each history entry counts a rolled-back instance as failed
// too; the metrics count it once, as rolled back.
func (w *World) checkMetrics(now time.Time) string {
	if w.metrics == nil {
		return ""
	}
	got, err := gatherMetrics(w.metrics)
	if err != nil {
		w.journal.violate("I-6", now, err.Error())
		return ""
	}
	got.add(w.metricsBefore)
	want := newMetricTotals()
	for _, name := range w.Orch.ScaleSets() {
		_ = w.Orch.View(name, func(rec *orchestrator.SetRecord) {
			c := want.set(name)
			for _, a := range rec.Attempts {
				p := orchestrator.HistoryOf(a, rec.Model.Region).Properties
				c.upgraded += p.Progress.SuccessfulInstanceCount
				c.rolledBack += p.RollbackInfo.SuccessfullyRolledbackInstanceCount
				c.failed += p.Progress.FailedInstanceCount - p.RollbackInfo.SuccessfullyRolledbackInstanceCount
				if a.Rollout.Status().Terminal() {
					want.rollouts[string(a.Rollout.Status())]++
				}
			}
		})
	}
	var bad []string
	for _, name := range slices.Sorted(maps.Keys(want.instances)) {
		h, m := want.set(name), got.set(name)
		if *h != *m {
			bad = append(bad, fmt.Sprintf("%s: metrics say %d upgraded, %d rolled back, %d failed; the history entries %d, %d, %d", name, m.upgraded, m.rolledBack, m.failed, h.upgraded, h.rolledBack, h.failed))
		}
	}
	for name, m := range got.instances {
		if _, ok := want.instances[name]; !ok && *m != (outcomeCounts{}) {
			bad = append(bad, fmt.Sprintf("metrics count instances of %s, a scale set the orchestrator does not hold", name))
		}
	}
	statuses := slices.Sorted(maps.Keys(want.rollouts))
	for s := range got.rollouts {
		if _, ok := want.rollouts[s]; !ok {
			statuses = append(statuses, s)
		}
	}
	for _, s := range statuses {
		if got.rollouts[s] != want.rollouts[s] {
			bad = append(bad, fmt.Sprintf("osupgrade_rollouts_total{status=%q} is %d, %d rollouts ended so", s, got.rollouts[s], want.rollouts[s]))
		}
	}
	if len(bad) > 0 {
		w.journal.violate("I-6", now, "the Prometheus metrics disagree with the history: "+strings.Join(bad, "; "))
		return ""
	}
	var total outcomeCounts
	for _, c := range got.instances {
		total.add(*c)
	}
	across := ""
	if w.restarts > 0 {
		across = fmt.Sprintf(", summed over %d orchestrator restarts", w.restarts)
	}
	return fmt.Sprintf("metrics agree with the history entries: %d upgraded, %d rolled back, %d failed, %d rollouts ended%s", total.upgraded, total.rolledBack, total.failed, sum(got.rollouts), across)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
