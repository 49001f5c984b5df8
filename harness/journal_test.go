package harness

import (
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
			m := orchestrator.ScaleSet{Name: "web", Capacity: 5, UpdateDomains: 5, Health: plan.HealthExtension, Rolling: plan.DefaultRollingUpgradePolicy()}
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
