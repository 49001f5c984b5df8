package orchestrator_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

const ubuntu = "Canonical:UbuntuServer:18.04-LTS"

type env struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock.Virtual
	fleet *sim.Fleet
	store *orchestrator.MemoryStore
	o     *orchestrator.Orchestrator
	start time.Time
}

func newEnv(t *testing.T, seed uint64) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clk: clock.NewVirtual(clock.Epoch), store: orchestrator.NewMemoryStore(), start: clock.Epoch}
	e.fleet = sim.New(e.clk, seed)
	o, err := orchestrator.New(e.ctx, orchestrator.Options{Clock: e.clk, Fleet: e.fleet, Store: e.store, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	e.o = o
	return e
}

func model(name, region string, n int) orchestrator.ScaleSet {
	m := orchestrator.ScaleSet{
		Name: name, Region: region, UpdateDomains: 5, Capacity: n, OS: "linux",
		Image:  orchestrator.ImageReference{Publisher: "Canonical", Offer: "UbuntuServer", SKU: "18.04-LTS", Version: "latest"},
		Health: plan.HealthExtension, SinglePlacementGroup: true, LoadBalancerSKU: "Standard",
		APIVersion: orchestrator.DefaultAPIVersion, EnableAutomaticOSUpgrade: true,
		Rolling: plan.DefaultRollingUpgradePolicy(), BootTime: 30 * time.Second,
	}
	return m
}

func (e *env) create(m orchestrator.ScaleSet, version string) {
	e.t.Helper()
	if err := e.o.CreateScaleSet(e.ctx, m, version); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) publish(ref, version string, at time.Duration, regions ...string) {
	e.t.Helper()
	if err := e.o.Publish(orchestrator.ImageVersion{Ref: ref, Version: version, PublishedAt: e.start.Add(at), Regions: regions}); err != nil {
		e.t.Fatal(err)
	}
}

// runUntil steps the orchestrator and jumps the virtual clock from event to
// event until nothing is due before t.
func (e *env) runUntil(d time.Duration) {
	e.t.Helper()
	until := e.start.Add(d)
	again := 0
	for i := 0; i < 1_000_000; i++ {
		next, err := e.o.Step(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if ft, ok := e.fleet.NextEvent(); ok && (next.IsZero() || ft.Before(next)) {
			next = ft
		}
		now := e.clk.Now()
		if next.IsZero() || next.After(until) {
			e.clk.Set(until)
			if _, err := e.o.Step(e.ctx); err != nil {
				e.t.Fatal(err)
			}
			return
		}
		if !next.After(now) {
			// Due already (the clock moved during the step): step again,
			// but not forever.
			if again++; again > 3 {
				e.t.Fatalf("at %s the next event is not in the future: %s", now, next)
			}
			continue
		}
		again = 0
		e.clk.Set(next)
	}
	e.t.Fatal("no progress")
}

// startManual creates the set on 1.0.0, publishes 2.0.0 and starts a manual
// rollout to it.
func (e *env) startManual(m orchestrator.ScaleSet) {
	e.t.Helper()
	e.create(m, "1.0.0")
	e.publish(ubuntu, "2.0.0", 0)
	if err := e.o.StartOSUpgrade(e.ctx, m.Name); err != nil {
		e.t.Fatal(err)
	}
}

// restartOn replaces the orchestrator with a new one on fleet, loaded from
// the same store: a restarted process.
func (e *env) restartOn(fleet orchestrator.Fleet) {
	e.t.Helper()
	o, err := orchestrator.New(e.ctx, orchestrator.Options{Clock: e.clk, Fleet: fleet, Store: e.store, Seed: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	e.o = o
}

// stepUntilKilled steps the orchestrator from event to event until its
// crashingFleet kills it.
func (e *env) stepUntilKilled() {
	e.t.Helper()
	defer func() { recover() }()
	for range 100 {
		next, _ := e.o.Step(e.ctx)
		if ft, ok := e.fleet.NextEvent(); ok && (next.IsZero() || ft.Before(next)) {
			next = ft
		}
		e.clk.Set(next)
	}
	e.t.Fatal("the orchestrator did not die")
}

func (e *env) attempts(set string) []orchestrator.Attempt {
	var out []orchestrator.Attempt
	if err := e.o.View(set, func(r *orchestrator.SetRecord) {
		for _, a := range r.Attempts {
			out = append(out, *a)
		}
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// R-TRIG-2: the first platform rollout starts within 3 hours of enabling;
// the same seed draws the same delay.
func TestPlatformSchedule_FirstWithinThreeHours_RTRIG2(t *testing.T) {
	starts := map[time.Duration]bool{}
	for seed := uint64(1); seed <= 8; seed++ {
		e := newEnv(t, seed)
		e.create(model("web", "eastus", 5), "1.0.0")
		e.publish(ubuntu, "1.0.0", 0)
		e.publish(ubuntu, "2.0.0", 0)
		e.runUntil(4 * time.Hour)
		as := e.attempts("web")
		if len(as) != 1 || as[0].StartedBy != orchestrator.StartedByPlatform || as[0].Rollout.Status() != plan.StatusCompleted {
			t.Fatalf("seed %d: attempts %+v", seed, as)
		}
		d := as[0].Rollout.StartTime().Sub(e.start)
		if d < 0 || d > 3*time.Hour {
			t.Errorf("seed %d: first rollout started %s after enabling, want within 3h", seed, d)
		}
		starts[d] = true
	}
	if len(starts) < 4 {
		t.Errorf("8 seeds gave only %d distinct delays: the delay is not drawn from the seed", len(starts))
	}
}

// R-TRIG-2: later rollouts start 30 to 60 minutes after the version becomes
// eligible.
func TestPlatformSchedule_LaterWithin30To60Minutes_RTRIG2(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		e := newEnv(t, seed)
		e.create(model("web", "eastus", 5), "1.0.0")
		e.publish(ubuntu, "1.0.0", 0)
		e.publish(ubuntu, "2.0.0", 0)
		e.publish(ubuntu, "3.0.0", 10*time.Hour)
		e.runUntil(20 * time.Hour)
		as := e.attempts("web")
		if len(as) != 2 {
			t.Fatalf("seed %d: %d attempts, want 2", seed, len(as))
		}
		d := as[1].Rollout.StartTime().Sub(e.start.Add(10 * time.Hour))
		if d < 30*time.Minute || d > 60*time.Minute {
			t.Errorf("seed %d: second rollout started %s after eligibility, want 30m..60m", seed, d)
		}
	}
}

// R-TRIG-1: a gallery version rolls out only where it is replicated and when
// it is not excluded from latest.
func TestGalleryEligibility_RTRIG1(t *testing.T) {
	const ref = "gallery:g/app"
	for _, c := range []struct {
		name     string
		regions  []string
		excluded bool
		want     int
	}{
		{"replicated to the region", []string{"eastus", "westus"}, false, 1},
		{"not replicated to the region", []string{"westus"}, false, 0},
		{"excluded from latest", []string{"eastus"}, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 1)
			m := model("web", "eastus", 5)
			m.Image = orchestrator.ImageReference{Gallery: "g", GalleryImage: "app"}
			e.create(m, "1.0.0")
			e.publish(ref, "1.0.0", 0, "eastus")
			if err := e.o.Publish(orchestrator.ImageVersion{Ref: ref, Version: "1.1.0", PublishedAt: e.start, Regions: c.regions, ExcludeFromLatest: c.excluded}); err != nil {
				t.Fatal(err)
			}
			e.runUntil(5 * time.Hour)
			if got := len(e.attempts("web")); got != c.want {
				t.Errorf("%d rollouts, want %d", got, c.want)
			}
		})
	}
}

// R-AVAIL-2: a platform version reaches the paired region only after the
// first phase completed; a phase that faults holds the next one back.
func TestRegionPhases_RAVAIL2(t *testing.T) {
	for _, bad := range []bool{false, true} {
		e := newEnv(t, 3)
		e.create(model("east", "eastus", 5), "1.0.0")
		e.create(model("west", "westus", 5), "1.0.0")
		e.publish(ubuntu, "1.0.0", 0)
		e.publish(ubuntu, "2.0.0", 0)
		if bad {
			e.fleet.SetBadVersion("2.0.0", fault.NeverHealthy)
		}
		e.runUntil(24 * time.Hour)
		east, west := e.attempts("east"), e.attempts("west")
		if len(east) != 1 {
			t.Fatalf("bad=%v: east has %d attempts", bad, len(east))
		}
		if bad {
			if east[0].Rollout.Status() != plan.StatusFaulted || len(west) != 0 {
				t.Errorf("bad version: east %s, west %d attempts; want east Faulted and west never started", east[0].Rollout.Status(), len(west))
			}
			continue
		}
		if len(west) != 1 || west[0].Rollout.StartTime().Before(east[0].Rollout.EndTime()) {
			t.Fatalf("west %+v started before east ended at %s", west, east[0].Rollout.EndTime())
		}
	}
}

// R-TRIG-5: a version whose rollout faulted is not retried; a newer version
// starts the next rollout; a manual trigger works with automatic upgrades off.
func TestNoRetryAndManualTrigger_RTRIG5_RTRIG3(t *testing.T) {
	e := newEnv(t, 1)
	e.create(model("web", "eastus", 10), "1.0.0")
	e.publish(ubuntu, "1.0.0", 0)
	e.publish(ubuntu, "2.0.0", 0)
	e.fleet.SetBadVersion("2.0.0", fault.NeverHealthy)
	e.runUntil(10 * time.Hour)
	if as := e.attempts("web"); len(as) != 1 || as[0].Rollout.Status() != plan.StatusFaulted {
		t.Fatalf("attempts %+v, want one Faulted", as)
	}
	e.publish(ubuntu, "3.0.0", 10*time.Hour)
	e.runUntil(20 * time.Hour)
	as := e.attempts("web")
	if len(as) != 2 || as[1].Target.Version != "3.0.0" || as[1].Rollout.Status() != plan.StatusCompleted {
		t.Fatalf("attempts %+v, want a second, completed rollout to 3.0.0", as)
	}
	// Automatic upgrades off: the platform does nothing, a user can.
	m, _ := e.o.ScaleSet("web")
	m.EnableAutomaticOSUpgrade = false
	if err := e.o.UpdateScaleSet(e.ctx, m); err != nil {
		t.Fatal(err)
	}
	e.publish(ubuntu, "4.0.0", 20*time.Hour)
	e.runUntil(30 * time.Hour)
	if got := len(e.attempts("web")); got != 2 {
		t.Fatalf("%d attempts with automatic upgrades off, want 2", got)
	}
	if err := e.o.StartOSUpgrade(e.ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := e.o.StartOSUpgrade(e.ctx, "web"); !errors.Is(err, orchestrator.ErrRolloutInProgress) {
		t.Errorf("second manual trigger: %v, want ErrRolloutInProgress", err)
	}
	e.runUntil(31 * time.Hour)
	as = e.attempts("web")
	if len(as) != 3 || as[2].StartedBy != orchestrator.StartedByUser || as[2].Target.Version != "4.0.0" || as[2].Rollout.Status() != plan.StatusCompleted {
		t.Fatalf("attempt 3 %+v, want a completed user rollout to 4.0.0", as[len(as)-1])
	}
}

// R-TRIG-4: cancel mid-rollout ends it Cancelled; no new batch starts.
func TestCancel_RTRIG4(t *testing.T) {
	e := newEnv(t, 1)
	e.create(model("web", "eastus", 10), "1.0.0")
	e.publish(ubuntu, "2.0.0", 0)
	if err := e.o.StartOSUpgrade(e.ctx, "web"); err != nil {
		t.Fatal(err)
	}
	e.runUntil(45 * time.Second) // batch 2 is running
	if err := e.o.Cancel(e.ctx, "web"); err != nil {
		t.Fatal(err)
	}
	e.runUntil(2 * time.Hour)
	a := e.attempts("web")[0]
	if a.Rollout.Status() != plan.StatusCancelled || len(a.Rollout.Records()) != 2 {
		t.Errorf("status %s after %d batches, want Cancelled after 2", a.Rollout.Status(), len(a.Rollout.Records()))
	}
	if err := e.o.Cancel(e.ctx, "web"); !errors.Is(err, orchestrator.ErrNoRollout) {
		t.Errorf("cancel with nothing running: %v, want ErrNoRollout", err)
	}
}

// R-HIST-1: the last five attempts within two months, newest first;
// R-HIST-3: rollingUpgrades/latest is the newest.
func TestHistoryWindow_RHIST1_RHIST3(t *testing.T) {
	e := newEnv(t, 1)
	m := model("web", "eastus", 5)
	m.EnableAutomaticOSUpgrade = false
	e.create(m, "1.0.0")
	if _, ok, _ := e.o.LatestRollout("web"); ok {
		t.Fatal("latest rollout before any")
	}
	day := 24 * time.Hour
	for i := 1; i <= 7; i++ {
		at := time.Duration(i) * 10 * day
		e.publish(ubuntu, "1."+string(rune('0'+i))+".0", at)
		e.runUntil(at)
		if err := e.o.StartOSUpgrade(e.ctx, "web"); err != nil {
			t.Fatal(err)
		}
		e.runUntil(at + time.Hour)
	}
	h, err := e.o.History("web")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 5 {
		t.Fatalf("%d entries, want 5", len(h))
	}
	for i, want := range []string{"1.7.0", "1.6.0", "1.5.0", "1.4.0", "1.3.0"} {
		p := h[i].Properties
		if p.TargetImageReference.Version != want || p.RunningStatus.Code != "Completed" || p.StartedBy != "User" || p.Progress.SuccessfulInstanceCount != 5 {
			t.Errorf("entry %d: %+v, want a completed user rollout to %s", i, p, want)
		}
	}
	latest, ok, err := e.o.LatestRollout("web")
	if err != nil || !ok || latest.Properties.TargetImageReference.Version != "1.7.0" {
		t.Errorf("latest %+v ok=%v err=%v", latest, ok, err)
	}
	// 50 days later only the attempts of the last two months remain.
	e.runUntil(70*day + 50*day)
	h, _ = e.o.History("web")
	for _, x := range h {
		if e.clk.Now().Sub(x.Properties.RunningStatus.StartTime) > orchestrator.HistoryWindow {
			t.Errorf("entry from %s is older than two months", x.Properties.RunningStatus.StartTime)
		}
	}
	if len(h) != 2 {
		t.Errorf("%d entries within two months, want 2 (days 60 and 70)", len(h))
	}
}

// crashingFleet dies (panics) on the k-th reimage: a kill -9 between
// journaling a decision and carrying it out.
type crashingFleet struct {
	orchestrator.Fleet
	left     int
	reimages map[int]int
}

func (c *crashingFleet) Reimage(ctx context.Context, set string, id int, img plan.Image) error {
	if c.left == 0 {
		panic("killed")
	}
	c.left--
	c.reimages[id]++
	return c.Fleet.Reimage(ctx, set, id, img)
}

// A restarted orchestrator resumes from its store: no instance lost, none
// upgraded twice.
func TestResumeAfterKill(t *testing.T) {
	e := newEnv(t, 1)
	e.startManual(model("web", "eastus", 10))
	counts := map[int]int{}
	cf := &crashingFleet{Fleet: e.fleet, left: 3, reimages: counts} // dies inside batch 2
	e.restartOn(cf)
	e.stepUntilKilled()
	cf.left = 1 << 30
	e.restartOn(cf)
	e.runUntil(3 * time.Hour)
	a := e.attempts("web")
	if len(a) != 1 || a[0].Rollout.Status() != plan.StatusCompleted || a[0].Rollout.Progress().Successful != 10 {
		t.Fatalf("after restart: %+v", a)
	}
	for id := range 10 {
		if counts[id] != 1 {
			t.Errorf("instance %d reimaged %d times, want once", id, counts[id])
		}
	}
}

// A reimage the killed orchestrator journaled but never made is made by its
// successor, and the instance's 5-minute wait (R-HEALTH-1) counts from then:
// here the successor starts 2 minutes late and the instance boots in 4.
func TestResumedReimageGetsItsFullHealthWait(t *testing.T) {
	e := newEnv(t, 1)
	m := model("web", "eastus", 10)
	m.BootTime = 4 * time.Minute
	e.startManual(m)
	counts := map[int]int{}
	cf := &crashingFleet{Fleet: e.fleet, left: 1, reimages: counts} // dies on batch 1's second reimage
	e.restartOn(cf)
	e.stepUntilKilled()
	e.clk.Set(e.start.Add(2 * time.Minute))
	cf.left = 1 << 30
	e.restartOn(cf)
	e.runUntil(3 * time.Hour)
	a := e.attempts("web")
	if len(a) != 1 || a[0].Rollout.Status() != plan.StatusCompleted || a[0].Rollout.Progress().Successful != 10 {
		t.Fatalf("after a late restart: status %s, %+v, %s", a[0].Rollout.Status(), a[0].Rollout.Progress(), a[0].Rollout.ErrorMessage())
	}
	for id := range 10 {
		if counts[id] != 1 {
			t.Errorf("instance %d reimaged %d times, want once", id, counts[id])
		}
	}
}

// A batch whose start a killed orchestrator journaled, none of whose
// reimages it made, begins only when its successor makes them: the gates are
// checked again then. Instances that went unhealthy in between stop the
// rollout (R-PRE-1 before the first batch, R-STOP-2 before the others), and
// nothing of the withdrawn batch is reimaged.
func TestResumedBatchStartChecksItsGatesAgain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dieAfter  int   // reimages the first orchestrator makes
		unhealthy []int // instances that go down while no orchestrator runs
		status    plan.Status
		code      string
		reimaged  int // instances reimaged in all
	}{
		{"first batch, set healthy", 0, nil, plan.StatusCompleted, "", 10},
		{"first batch, 3 of 10 down", 0, []int{7, 8, 9}, plan.StatusNotStarted, plan.CodePrecheckUnhealthy, 0},
		{"second batch, 3 of 10 down", 2, []int{7, 8, 9}, plan.StatusFaulted, plan.CodeSetUnhealthy, 2},
		{"second batch, the upgraded one down", 2, []int{0}, plan.StatusFaulted, plan.CodeUpgradedUnhealthy, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			e.startManual(model("web", "eastus", 10))
			counts := map[int]int{}
			cf := &crashingFleet{Fleet: e.fleet, left: tc.dieAfter, reimages: counts}
			e.restartOn(cf)
			e.stepUntilKilled()
			if len(tc.unhealthy) > 0 {
				if err := e.fleet.Inject(e.ctx, "web", tc.unhealthy, fault.Switch{Kind: fault.Down, On: true}); err != nil {
					t.Fatal(err)
				}
			}
			e.clk.Set(e.clk.Now().Add(time.Minute))
			cf.left = 1 << 30
			e.restartOn(cf)
			e.runUntil(3 * time.Hour)
			a := e.attempts("web")
			r := a[0].Rollout
			if len(a) != 1 || r.Status() != tc.status || r.ErrorCode() != tc.code {
				t.Fatalf("status %s %s (%s), want %s %s", r.Status(), r.ErrorCode(), r.ErrorMessage(), tc.status, tc.code)
			}
			if len(counts) != tc.reimaged {
				t.Errorf("%d instances reimaged, want %d: %v", len(counts), tc.reimaged, counts)
			}
			if want := tc.reimaged / 2; r.Status() != plan.StatusCompleted && len(r.Records()) != want {
				t.Errorf("%d batches on record, want %d: the withdrawn batch never began", len(r.Records()), want)
			}
		})
	}
}

// slowReimages is a fleet on which every reimage takes a while of the
// clock, as containers recreated a few at a time do.
type slowReimages struct {
	orchestrator.Fleet
	clk  *clock.Virtual
	each time.Duration
}

func (s *slowReimages) Reimage(ctx context.Context, set string, id int, img plan.Image) error {
	s.clk.Advance(s.each)
	return s.Fleet.Reimage(ctx, set, id, img)
}

// Each instance's 5-minute wait counts from its own reimage (R-ROLLBACK-1:
// "5 minutes after its upgrade"), not from the batch's decision: here a
// batch of 8 is reimaged one a minute, the last 8 minutes after the batch
// began, and every instance is healthy 30 s after its reimage.
func TestEachInstanceWaitsFromItsOwnReimage(t *testing.T) {
	e := newEnv(t, 1)
	e.startManual(model("web", "eastus", 40))
	e.restartOn(&slowReimages{Fleet: e.fleet, clk: e.clk, each: time.Minute})
	e.runUntil(6 * time.Hour)
	a := e.attempts("web")
	r := a[0].Rollout
	if r.Status() != plan.StatusCompleted || r.Progress().Successful != 40 {
		t.Fatalf("status %s %s, %+v", r.Status(), r.ErrorMessage(), r.Progress())
	}
}

// R-CRED-1: an expired SAS token fails the first batch; renewing it in the
// model and updating the instances brings them back.
func TestExpiredSASAndRecovery_RCRED1(t *testing.T) {
	e := newEnv(t, 1)
	m := model("web", "eastus", 10)
	m.Extensions = []orchestrator.Extension{{Name: "install", Type: "CustomScript", SASExpiresAt: e.start.Add(time.Minute)}}
	e.create(m, "1.0.0")
	e.publish(ubuntu, "2.0.0", 2*time.Hour)
	e.runUntil(6 * time.Hour)
	a := e.attempts("web")
	if len(a) != 1 || a[0].Rollout.Status() != plan.StatusFaulted || len(a[0].Rollout.Records()) != 1 {
		t.Fatalf("attempts %+v, want one Faulted after batch 1", a)
	}
	c := a[0].Rollout.Progress()
	if c.RollbackFailed != 2 {
		t.Errorf("progress %+v, want 2 failed rollbacks (the rollback re-applies the failing extension)", c)
	}
	obs, _ := e.fleet.Observe(e.ctx, "web")
	failed := 0
	for _, in := range obs {
		if in.Provisioning == plan.ProvisioningFailed {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d instances Failed, want the 2 of batch 1", failed)
	}
	m, _ = e.o.ScaleSet("web")
	m.Extensions[0].SASExpiresAt = e.start.Add(48 * time.Hour)
	if err := e.o.UpdateScaleSet(e.ctx, m); err != nil {
		t.Fatal(err)
	}
	ids := make([]int, 10)
	for i := range ids {
		ids[i] = i
	}
	if err := e.o.ManualUpgrade(e.ctx, "web", ids); err != nil {
		t.Fatal(err)
	}
	e.runUntil(7 * time.Hour)
	obs, _ = e.fleet.Observe(e.ctx, "web")
	for _, in := range obs {
		if !plan.HealthyOn(&in, in.Version, plan.HealthExtension) {
			t.Errorf("instance %d not healthy after the recovery: %+v", in.ID, in)
		}
	}
}
