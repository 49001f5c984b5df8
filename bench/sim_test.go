package bench

import (
	"context"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

func TestLowerBound(t *testing.T) {
	model := func(n int, zones []string) orchestrator.ScaleSet {
		return orchestrator.ScaleSet{Capacity: n, Zones: zones, UpdateDomains: 5, BootTime: 30 * time.Second, Rolling: plan.DefaultRollingUpgradePolicy()}
	}
	three := []string{"1", "2", "3"}
	for _, c := range []struct {
		m       orchestrator.ScaleSet
		batches int
		total   time.Duration
	}{
		{model(1_000_000, three), 15, 15 * 35 * time.Second},
		{model(10, nil), 5, 5 * 35 * time.Second},
		{model(4, nil), 4, 4 * 35 * time.Second},
		{model(1000, three), 15, 15 * 35 * time.Second},
		// 100 in 3 zones: batch size 20; groups of 6 or 7 -> 15 batches.
		{model(100, three), 15, 15 * 35 * time.Second},
		// 2000 without zones: batch 400, 5 groups of 400 -> 5 batches.
		{model(2000, nil), 5, 5 * 35 * time.Second},
	} {
		b := LowerBound(c.m)
		if b.Batches != c.batches || b.Total != c.total {
			t.Errorf("LowerBound(%d instances, zones %v) = %+v, want %d batches, %s", c.m.Capacity, c.m.Zones, b, c.batches, c.total)
		}
	}
	// Capacity 1 at batch size: one batch; pauses count between batches.
	m := model(10, nil)
	m.Rolling.PauseTimeBetweenBatches = time.Minute
	if b := LowerBound(m); b.Total != 5*35*time.Second+4*time.Minute {
		t.Errorf("with pauses: %+v", b)
	}
}

// TestSimRolloutMeetsItsBound checks, at a size that runs in milliseconds,
// that a fault-free rollout on the sim takes exactly its lower bound and the
// standard mix completes later; it asserts no timing.
func TestSimRolloutMeetsItsBound(t *testing.T) {
	tick := clock.Epoch
	fake := func() time.Time { tick = tick.Add(time.Millisecond); return tick }
	for _, mix := range Mixes {
		sc, err := SimScenario(1000, mix)
		if err != nil {
			t.Fatal(err)
		}
		s, err := RunSim(context.Background(), sc, mix, fake)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status != "Completed" || s.Bound.Batches != 15 {
			t.Fatalf("%s: %+v", mix, s)
		}
		switch mix {
		case FaultFree:
			if s.Makespan != s.Bound.Total || s.Batches != 15 || s.Upgraded != 1000 {
				t.Errorf("fault-free: makespan %s, bound %s, %d batches, %d upgraded", s.Makespan, s.Bound.Total, s.Batches, s.Upgraded)
			}
		case StandardMix:
			if s.Makespan <= s.Bound.Total || s.Failed == 0 {
				t.Errorf("standard mix: makespan %s, bound %s, %d failed", s.Makespan, s.Bound.Total, s.Failed)
			}
		}
		if s.Bytes == 0 || s.Wall <= 0 {
			t.Errorf("%s: nothing measured: %+v", mix, s)
		}
	}
	if _, err := SimScenario(0, FaultFree); err == nil {
		t.Error("0 instances accepted")
	}
}

func TestPlannerRollout(t *testing.T) {
	in := PlannerFleet(1000)
	d, err := PlannerRollout(in, clock.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if in[i].Version != "2" {
			t.Fatalf("instance %d on %s", i, in[i].Version)
		}
	}
	if d < 15 {
		t.Errorf("%d decisions for 15 batches", d)
	}
}
