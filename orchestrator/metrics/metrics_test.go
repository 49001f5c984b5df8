package metrics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

const ubuntu = "Canonical:UbuntuServer:18.04-LTS"

type world struct {
	ctx   context.Context
	clk   *clock.Virtual
	fleet *sim.Fleet
	o     *orchestrator.Orchestrator
	m     *Metrics
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewVirtual(clock.Epoch)
	fleet := sim.New(clk, 7)
	o, err := orchestrator.New(ctx, orchestrator.Options{Clock: clk, Fleet: fleet, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if err := o.Publish(orchestrator.ImageVersion{Ref: ubuntu, Version: v, PublishedAt: clock.Epoch}); err != nil {
			t.Fatal(err)
		}
	}
	return &world{ctx: ctx, clk: clk, fleet: fleet, o: o, m: New(o, fleet)}
}

func (w *world) create(t *testing.T, name string, auto bool) {
	t.Helper()
	s := orchestrator.ScaleSet{
		Name: name, Region: "eastus", UpdateDomains: 5, Capacity: 10, OS: "linux",
		Image:  orchestrator.ImageReference{Publisher: "Canonical", Offer: "UbuntuServer", SKU: "18.04-LTS", Version: "latest"},
		Health: plan.HealthExtension, APIVersion: orchestrator.DefaultAPIVersion, EnableAutomaticOSUpgrade: auto,
		Rolling: plan.DefaultRollingUpgradePolicy(), BootTime: 30 * time.Second,
	}
	if err := w.o.CreateScaleSet(w.ctx, s, "1.0.0"); err != nil {
		t.Fatal(err)
	}
}

// run steps the world event by event until nothing is due or limit passes.
func (w *world) run(t *testing.T, limit time.Duration) {
	t.Helper()
	end := w.clk.Now().Add(limit)
	for w.clk.Now().Before(end) {
		next, err := w.o.Step(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fe, ok := w.fleet.NextEvent(); ok && (next.IsZero() || fe.Before(next)) {
			next = fe
		}
		if next.IsZero() {
			return
		}
		if !next.After(w.clk.Now()) {
			next = w.clk.Now().Add(time.Second)
		}
		w.clk.Set(next)
	}
}

const metricNames = "osupgrade_rollouts_total osupgrade_instances_upgraded_total osupgrade_instances_rolled_back_total osupgrade_instances_failed_total osupgrade_batch_size_instances osupgrade_batch_duration_seconds"

func TestCompletedManualRollout(t *testing.T) {
	w := newWorld(t)
	w.create(t, "web", false)
	// Move "latest" to 2.0.0 for the manual trigger by pinning nothing:
	// the set was created on 1.0.0 and latest is 2.0.0.
	if err := w.o.StartOSUpgrade(w.ctx, "web"); err != nil {
		t.Fatal(err)
	}
	w.run(t, time.Hour)
	if got := testutil.ToFloat64(w.m.upgraded.WithLabelValues("web")); got != 0 {
		// Counts come from Collect; nothing has been collected yet.
		t.Fatalf("upgraded before collection = %v", got)
	}
	n, err := testutil.GatherAndCount(w.m.Registry(), "osupgrade_rollouts_total")
	if err != nil || n != 1 {
		t.Fatalf("rollouts series = %d (%v)", n, err)
	}
	// Five batches of two (R-BATCH-1), each 30 s boot + 5 s grace.
	want := `
# HELP osupgrade_rollouts_total Rollouts that ended, by final status (Completed, Faulted, Cancelled, NotStarted) and who started them.
# TYPE osupgrade_rollouts_total counter
osupgrade_rollouts_total{started_by="User",status="Completed"} 1
# HELP osupgrade_instances_upgraded_total Instances that came back healthy on the target version, by scale set.
# TYPE osupgrade_instances_upgraded_total counter
osupgrade_instances_upgraded_total{scale_set="web"} 10
`
	if err := testutil.GatherAndCompare(w.m.Registry(), strings.NewReader(want), "osupgrade_rollouts_total", "osupgrade_instances_upgraded_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(w.m.rolledBack); n != 0 {
		t.Fatalf("rolled back series = %d, want none", n)
	}
	checkHistogram(t, w, "osupgrade_batch_size_instances", 5, 10)
	checkHistogram(t, w, "osupgrade_batch_duration_seconds", 5, 5*35)
	checkHistogram(t, w, "osupgrade_batch_health_wait_seconds", 5, 5*35)
}

func checkHistogram(t *testing.T, w *world, name string, count uint64, sum float64) {
	t.Helper()
	mfs, err := w.m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != count || h.GetSampleSum() != sum {
			t.Fatalf("%s: count %d sum %v, want count %d sum %v", name, h.GetSampleCount(), h.GetSampleSum(), count, sum)
		}
		return
	}
	t.Fatalf("%s not gathered", name)
}

// TestPlatformRolloutRollsBack: a never-healthy version on a platform
// rollout rolls the first batch back (R-ROLLBACK-1) and faults (R-STOP-1).
func TestPlatformRolloutRollsBack(t *testing.T) {
	w := newWorld(t)
	w.create(t, "web", true)
	w.fleet.SetBadVersion("3.0.0", fault.NeverHealthy)
	if err := w.o.Publish(orchestrator.ImageVersion{Ref: ubuntu, Version: "3.0.0", PublishedAt: clock.Epoch}); err != nil {
		t.Fatal(err)
	}
	w.run(t, 6*time.Hour)
	want := `
# HELP osupgrade_rollouts_total Rollouts that ended, by final status (Completed, Faulted, Cancelled, NotStarted) and who started them.
# TYPE osupgrade_rollouts_total counter
osupgrade_rollouts_total{started_by="Platform",status="Faulted"} 1
# HELP osupgrade_instances_rolled_back_total Instances rolled back to their previous OS disk and healthy again, by scale set.
# TYPE osupgrade_instances_rolled_back_total counter
osupgrade_instances_rolled_back_total{scale_set="web"} 2
`
	if err := testutil.GatherAndCompare(w.m.Registry(), strings.NewReader(want), "osupgrade_rollouts_total", "osupgrade_instances_rolled_back_total", "osupgrade_instances_upgraded_total"); err != nil {
		t.Fatal(err)
	}
}

func TestUnhealthyRatioAndRequests(t *testing.T) {
	w := newWorld(t)
	w.create(t, "web", false)
	if err := w.fleet.Inject(w.ctx, "web", []int{0, 1, 2}, fault.Switch{Kind: fault.AppUnhealthy, On: true}); err != nil {
		t.Fatal(err)
	}
	w.m.ObserveRequest("GET /x", "GET", 200)
	w.m.ObserveRequest("GET /x", "GET", 200)
	w.m.ObserveRequest("PUT /y", "PUT", 400)
	want := `
# HELP osupgrade_scale_set_unhealthy_ratio Share of a scale set's instances that count as unhealthy now (0 to 1).
# TYPE osupgrade_scale_set_unhealthy_ratio gauge
osupgrade_scale_set_unhealthy_ratio{scale_set="web"} 0.3
# HELP osupgrade_api_requests_total API requests by route pattern, method and HTTP status code.
# TYPE osupgrade_api_requests_total counter
osupgrade_api_requests_total{code="200",method="GET",route="GET /x"} 2
osupgrade_api_requests_total{code="400",method="PUT",route="PUT /y"} 1
`
	if err := testutil.GatherAndCompare(w.m.Registry(), strings.NewReader(want), "osupgrade_scale_set_unhealthy_ratio", "osupgrade_api_requests_total"); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(w.m.Registry(), strings.Fields(metricNames)...)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

// The instance counters follow a batch as its instances settle, not only
// when it ends; a metrics started while a rollout runs (a restarted serve)
// counts only what settles from then on.
func TestCountersFollowTheBatchInProgress(t *testing.T) {
	w := newWorld(t)
	w.create(t, "web", false)
	// Instance 5 (batch 1 with instance 0) boots 4 minutes late.
	if err := w.fleet.Inject(w.ctx, "web", []int{5}, fault.Switch{Kind: fault.SlowBoot, On: true, Delay: 4 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := w.o.StartOSUpgrade(w.ctx, "web"); err != nil {
		t.Fatal(err)
	}
	w.run(t, time.Minute)
	w.m.sync() // what a scrape does first
	if got := testutil.ToFloat64(w.m.upgraded.WithLabelValues("web")); got != 1 {
		t.Fatalf("a minute in, upgraded = %v, want 1 (instance 0 healthy, instance 5 still booting)", got)
	}
	late := New(w.o, nil)
	w.run(t, time.Hour)
	w.m.sync()
	late.sync()
	if got := testutil.ToFloat64(w.m.upgraded.WithLabelValues("web")); got != 10 {
		t.Fatalf("at the end, upgraded = %v, want 10", got)
	}
	if got := testutil.ToFloat64(late.upgraded.WithLabelValues("web")); got != 9 {
		t.Fatalf("metrics started mid-rollout count %v upgraded, want the 9 settled after they started", got)
	}
}

// The unhealthy and instance gauges count as the 20% gates do (stopped,
// or reporting unhealthy through the health extension), per scale set, so
// that an alert can compare them in integers (100*x > 20*n).
func TestUnhealthyAndInstanceGauges(t *testing.T) {
	w := newWorld(t)
	w.create(t, "web", false)
	w.create(t, "db", false)
	for _, f := range []struct {
		ids  []int
		kind fault.Kind
	}{{[]int{0, 1}, fault.AppUnhealthy}, {[]int{2}, fault.Down}} {
		if err := w.fleet.Inject(w.ctx, "web", f.ids, fault.Switch{Kind: f.kind, On: true}); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP osupgrade_scale_set_instances Instances of a scale set now.
# TYPE osupgrade_scale_set_instances gauge
osupgrade_scale_set_instances{scale_set="db"} 10
osupgrade_scale_set_instances{scale_set="web"} 10
# HELP osupgrade_scale_set_unhealthy_instances Instances of a scale set that count as unhealthy now, as the 20% gates count them (R-PRE-1, R-STOP-2).
# TYPE osupgrade_scale_set_unhealthy_instances gauge
osupgrade_scale_set_unhealthy_instances{scale_set="db"} 0
osupgrade_scale_set_unhealthy_instances{scale_set="web"} 3
`
	if err := testutil.GatherAndCompare(w.m.Registry(), strings.NewReader(want), "osupgrade_scale_set_instances", "osupgrade_scale_set_unhealthy_instances"); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(w.m.Registry(), "osupgrade_scale_set_instances", "osupgrade_scale_set_unhealthy_instances")
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}
