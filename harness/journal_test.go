package harness

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// With slack (Docker), an upgraded instance that turns healthy near the
// 5-minute boundary is judged no finer than the slack: healthy within the
// wait plus the slack does not trip R-STOP-1 for the next batch; healthy
// only after that does.
func TestJournalSlackAtTheHealthWaitBoundary(t *testing.T) {
	const slack = 30 * time.Second
	for _, tc := range []struct {
		name      string
		healthyAt time.Duration // after the first batch's reimage
		nextAt    time.Duration // the second batch's reimage
		wantI2    bool
	}{
		{"healthy at 4m59, next batch at 5m", 4*time.Minute + 59*time.Second, 5 * time.Minute, false},
		{"healthy at 5m20, next batch at 5m21", 5*time.Minute + 20*time.Second, 5*time.Minute + 21*time.Second, false},
		{"never healthy, next batch at 5m", -1, 5 * time.Minute, true},
		{"healthy at 6m, next batch at 6m01", 6 * time.Minute, 6*time.Minute + time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := NewJournal(slack)
			m := orchestrator.ScaleSet{Name: "web", Capacity: 5, UpdateDomains: 5, Health: plan.HealthExtension, Rolling: orchestrator.DefaultRollingPolicy()}
			j.AddSet(m, "1")
			t0 := clock.Epoch
			j.StepBegins()
			j.Reimage(t0, "web", 0, "2")
			j.State(t0, "web", plan.Instance{ID: 0, Version: "2", Provisioning: plan.ProvisioningUpdating})
			// Reports of the other instances keep the journal's time moving.
			for at := time.Duration(0); at < tc.nextAt; at += 10 * time.Second {
				if tc.healthyAt >= 0 && at <= tc.healthyAt && tc.healthyAt < at+10*time.Second {
					j.State(t0.Add(tc.healthyAt), "web", plan.Instance{ID: 0, Version: "2", Running: true, Provisioning: plan.ProvisioningSucceeded, Health: plan.HealthHealthy})
				}
				j.State(t0.Add(at), "web", plan.Instance{ID: 4, Version: "1", Running: true, Provisioning: plan.ProvisioningSucceeded, Health: plan.HealthHealthy})
			}
			j.StepBegins()
			j.Reimage(t0.Add(tc.nextAt), "web", 1, "2")
			if got := j.violations["I-2"] != nil; got != tc.wantI2 {
				t.Fatalf("I-2 violated: %v, want %v (%+v)", got, tc.wantI2, j.violations["I-2"])
			}
		})
	}
}

// Observed walks the expiry queue instead of the whole set; it must mark
// exactly what a scan of every instance marks, whatever the order of
// reimages, reports and observations (older ones included).
func TestJournalObservedMarksWhatAFullScanMarks(t *testing.T) {
	const n = 12
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 50 {
		walk, scan := NewJournal(0), NewJournal(0)
		scan.expiredTo = math.MaxInt64 // always the full scan
		sets := []string{"a", "b"}
		obs := map[string][]plan.Instance{}
		for _, name := range sets {
			m := orchestrator.ScaleSet{Name: name, Capacity: n, UpdateDomains: 1, Health: plan.HealthExtension, Rolling: orchestrator.DefaultRollingPolicy()}
			walk.AddSet(m, "1")
			scan.AddSet(m, "1")
			obs[name] = make([]plan.Instance, n)
			for i := range obs[name] {
				obs[name][i] = plan.Instance{ID: i, Version: "1", Running: true, Provisioning: plan.ProvisioningSucceeded, Health: plan.HealthHealthy}
			}
		}
		at := clock.Epoch
		if round == 0 {
			// An observation older than an expiry: instance 0 healthy 10 s
			// after its reimage, seen so only after a report at 6 minutes
			// ended its wait.
			for _, j := range []*Journal{walk, scan} {
				j.StepBegins()
				j.Reimage(at, "a", 0, "2")
			}
			obs["a"][0].Version = "2"
			for _, j := range []*Journal{walk, scan} {
				j.State(at.Add(10*time.Second), "a", obs["a"][0])
				j.State(at.Add(6*time.Minute), "a", obs["a"][1])
				j.Observed(at.Add(20*time.Second), "a", obs["a"])
			}
			if walk.sets["a"].inst[0] != scan.sets["a"].inst[0] || scan.sets["a"].inst[0].flags&fSeenSucceeded == 0 {
				t.Fatalf("old observation: walk %+v, scan %+v (want seen succeeded)", walk.sets["a"].inst[0], scan.sets["a"].inst[0])
			}
			at = at.Add(6 * time.Minute)
		}
		for op := range 400 {
			at = at.Add(time.Duration(rng.IntN(20)) * time.Second)
			set := sets[rng.IntN(len(sets))]
			id := rng.IntN(n)
			in := &obs[set][id]
			switch rng.IntN(6) {
			case 0:
				walk.StepBegins()
				scan.StepBegins()
			case 1:
				v := []string{"1", "2"}[rng.IntN(2)]
				in.Version, in.Provisioning, in.Health = v, plan.ProvisioningUpdating, plan.HealthUnknown
				walk.Reimage(at, set, id, v)
				scan.Reimage(at, set, id, v)
			case 2:
				in.Provisioning = plan.ProvisioningSucceeded
				in.Health = []plan.Health{plan.HealthHealthy, plan.HealthUnhealthy, plan.HealthInitializing}[rng.IntN(3)]
				walk.State(at, set, *in)
				scan.State(at, set, *in)
			default:
				seen := at
				if rng.IntN(4) == 0 {
					seen = at.Add(-time.Duration(rng.IntN(300)) * time.Second) // an observation older than the journal's time
				}
				walk.Observed(seen, set, obs[set])
				scan.Observed(seen, set, obs[set])
			}
			for _, name := range sets {
				w, s := walk.sets[name].inst, scan.sets[name].inst
				for i := range w {
					if w[i] != s[i] {
						t.Fatalf("round %d, op %d: set %s instance %d: walk %+v, scan %+v", round, op, name, i, w[i], s[i])
					}
				}
			}
		}
	}
}
