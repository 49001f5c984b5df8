package orchestrator_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// batchSpan is one batch of one set, for the region-wide R-AVAIL-1 checks.
type batchSpan struct {
	set        string
	zone       string
	start, end time.Time
}

func (e *env) batchSpans(names ...string) []batchSpan {
	e.t.Helper()
	var out []batchSpan
	for _, n := range names {
		if err := e.o.View(n, func(rec *orchestrator.SetRecord) {
			for _, a := range rec.Attempts {
				for _, b := range a.Rollout.Records {
					out = append(out, batchSpan{set: n, zone: b.Zone, start: b.StartTime, end: b.EndTime})
				}
			}
		}); err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

// overlapsAcrossZones lists pairs of batches of different sets in different
// zones in flight at once.
func overlapsAcrossZones(spans []batchSpan) []string {
	var bad []string
	for i, a := range spans {
		for _, b := range spans[i+1:] {
			if a.set != b.set && a.zone != b.zone && a.start.Before(b.end) && b.start.Before(a.end) {
				bad = append(bad, a.set+"/"+a.zone+" with "+b.set+"/"+b.zone)
			}
		}
	}
	return bad
}

func (e *env) status(name string) plan.Status {
	e.t.Helper()
	s := plan.Status("no rollout")
	if err := e.o.View(name, func(rec *orchestrator.SetRecord) {
		if a := rec.Last(); a != nil {
			s = a.Rollout.Status
		}
	}); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// R-AVAIL-1 across a region: zonal sets of one region, listing their zones
// in different orders, never have one platform version in flight in two
// zones at once; a set held back waits in progress, says why, and completes.
func TestPlatformRolloutOneZoneOfARegionAtATime(t *testing.T) {
	e := newEnv(t, 3)
	var waits []orchestrator.SetEvent
	e.o.Subscribe(func(ev orchestrator.SetEvent) {
		if ev.Kind == orchestrator.EventZoneWait {
			waits = append(waits, ev)
		}
	})
	orders := [][]string{{"1", "2", "3"}, {"2", "3", "1"}, {"3", "1", "2"}}
	names := []string{"a", "b", "c"}
	for i, n := range names {
		m := model(n, "eastus", 30)
		m.Zones = orders[i]
		e.create(m, "1.0.0")
	}
	e.create(model("west", "westus", 10), "1.0.0") // another region: not held by eastus
	e.publish(ubuntu, "2.0.0", 0)
	e.runUntil(12 * time.Hour)
	for _, n := range append(names, "west") {
		if s := e.status(n); s != plan.StatusCompleted {
			for _, j := range e.store.Journal() {
				t.Log(j.Time.Sub(e.start), j.Set, j.Status, j.Events, len(j.Reimages), j.Note)
			}
			t.Errorf("%s: %s, want Completed", n, s)
		}
	}
	if bad := overlapsAcrossZones(e.batchSpans(names...)); len(bad) > 0 {
		t.Errorf("one version in flight in two zones of eastus at once: %v", bad)
	}
	if len(waits) == 0 {
		t.Fatal("no set waited for its zone: the sets never met, the test proves nothing")
	}
	noted := 0
	for _, j := range e.store.Journal() {
		if strings.Contains(j.Note, orchestrator.NoteZoneWait) {
			noted++
			if j.Status != plan.StatusRollingForward {
				t.Errorf("%s waits with status %s, want RollingForward (in progress)", j.Set, j.Status)
			}
		}
	}
	if noted != len(waits) {
		t.Errorf("%d journal notes of a zone wait, %d events", noted, len(waits))
	}
}

// Manual rollouts keep R-AVAIL-1 within their set only, as before.
func TestManualRolloutsIgnoreOtherSetsZones(t *testing.T) {
	e := newEnv(t, 3)
	for i, n := range []string{"a", "b"} {
		m := model(n, "eastus", 30)
		m.Zones = [][]string{{"1", "2", "3"}, {"2", "3", "1"}}[i]
		e.create(m, "1.0.0")
	}
	e.publish(ubuntu, "2.0.0", 0)
	for _, n := range []string{"a", "b"} {
		if err := e.o.StartOSUpgrade(e.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	e.runUntil(2 * time.Hour)
	if bad := overlapsAcrossZones(e.batchSpans("a", "b")); len(bad) == 0 {
		t.Error("manual rollouts of two sets never overlapped across zones: they were held by the fleet schedule")
	}
}

// countingFleet counts observations by set and checks that the
// orchestrator's lock is free while the fleet is read or written.
type countingFleet struct {
	*sim.Fleet
	o        func() *orchestrator.Orchestrator
	mu       sync.Mutex
	observed map[string]int
	locked   int
}

func (f *countingFleet) Observe(ctx context.Context, set string) ([]plan.Instance, error) {
	f.mu.Lock()
	f.observed[set]++
	f.mu.Unlock()
	f.checkUnlocked()
	return f.Fleet.Observe(ctx, set)
}

func (f *countingFleet) Reimage(ctx context.Context, set string, id int, img plan.Image) error {
	f.checkUnlocked()
	return f.Fleet.Reimage(ctx, set, id, img)
}

// checkUnlocked reads the orchestrator from another goroutine: with the
// lock held across fleet I/O it would wait.
func (f *countingFleet) checkUnlocked() {
	done := make(chan struct{})
	go func() {
		f.o().ScaleSets()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		f.mu.Lock()
		f.locked++
		f.mu.Unlock()
		<-done
	}
}

// A step observes only the sets that are due: a set with nothing to do is
// never observed, and no lock is held while the fleet is called.
func TestStepObservesOnlyDueSetsWithoutTheLock(t *testing.T) {
	e := newEnv(t, 1)
	cf := &countingFleet{Fleet: e.fleet, o: func() *orchestrator.Orchestrator { return e.o }, observed: map[string]int{}}
	o, err := orchestrator.New(e.ctx, orchestrator.Options{Clock: e.clk, Fleet: cf, Store: e.store, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.o = o
	e.create(model("busy", "eastus", 10), "1.0.0")
	idle := model("idle", "eastus", 10)
	idle.EnableAutomaticOSUpgrade = false
	e.create(idle, "1.0.0")
	e.publish(ubuntu, "2.0.0", 0)
	e.runUntil(6 * time.Hour)
	if s := e.status("busy"); s != plan.StatusCompleted {
		t.Fatalf("busy: %s, want Completed", s)
	}
	if n := cf.observed["idle"]; n != 0 {
		t.Errorf("the idle set was observed %d times", n)
	}
	if cf.observed["busy"] == 0 {
		t.Error("the rolling set was never observed")
	}
	if cf.locked > 0 {
		t.Errorf("%d fleet calls made with the orchestrator's lock held", cf.locked)
	}
}
