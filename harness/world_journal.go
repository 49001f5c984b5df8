package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/internal/netfault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// FleetWatcher is implemented by fleets whose journal comes from outside
// the harness's process — the Docker fleet, from the engine's events and
// container inspection. WatchFleet reports every change until stop is
// called: reimaged true when the instance's OS disk was just replaced
// (in.Version the new version), else the instance's report changed (running,
// provisioning, health). Times are on the scenario clock. report may be
// called from any goroutine, one call at a time or not: the world
// serializes.
type FleetWatcher interface {
	WatchFleet(ctx context.Context, report func(at time.Time, set string, in plan.Instance, reimaged bool)) (stop func(), err error)
}

// simEvent feeds the journal from the simulator's event stream (called with
// the sim's lock held: it must not call back into the fleet).
func (w *World) simEvent(e sim.Event) {
	switch e.Kind {
	case sim.EventReimage:
		w.journal.Reimage(e.Time, e.Set, e.ID, e.Version)
	case sim.EventState:
		w.journal.State(e.Time, e.Set, e.State)
	}
}

// watchFleet starts the journal of a fleet that reports from outside.
func (w *World) watchFleet(ctx context.Context, slack time.Duration) error {
	fw, ok := w.Fleet.(FleetWatcher)
	if !ok {
		return nil // no journal: every invariant reports "not checked" and fails
	}
	j := NewJournal(slack)
	var mu sync.Mutex
	stop, err := fw.WatchFleet(ctx, func(at time.Time, set string, in plan.Instance, reimaged bool) {
		mu.Lock()
		defer mu.Unlock()
		if reimaged {
			j.Reimage(at, set, in.ID, in.Version)
		}
		j.State(at, set, in)
	})
	if err != nil {
		return fmt.Errorf("watch the %s fleet for the journal: %w", w.FleetName, err)
	}
	w.journal, w.journalMu = j, &mu
	w.closers = append(w.closers, func(context.Context) error { stop(); return nil })
	return nil
}

// preflight refuses, before anything is built, a scenario this machine
// cannot run honestly: latency on Docker needs sch_netem (see latency).
func (w *World) preflight(f *scenario.File) error { return CheckFleet(f, w.FleetName) }

// CheckFleet says whether this machine can run a scenario honestly on a
// fleet; an error names what is missing and the alternative.
func CheckFleet(f *scenario.File, fleet string) error {
	if fleet != "docker" {
		return nil
	}
	for _, e := range f.Timeline {
		if e.Fault == "latency" && e.Kind != "tbf" {
			if err := netfault.NetemAvailable(); err != nil {
				return fmt.Errorf("%w: latency: %v; the closest honest alternative is slow-link (a TBF rate limit), or latency with kind: tbf, which shapes the link so that a probe's %d bytes take the delay", fault.ErrUnsupported, err, netfault.ProbeBytes)
			}
		}
	}
	return nil
}

// lockJournal serializes the world's reads of the journal with a fleet that
// reports from another goroutine; the sim reports from the caller's.
func (w *World) lockJournal() func() {
	if w.journalMu == nil {
		return func() {}
	}
	w.journalMu.Lock()
	return w.journalMu.Unlock
}

// snapshotStore is what a killed orchestrator leaves behind: its store, as
// it would be read back from disk.
func (w *World) snapshotStore(ctx context.Context) ([]byte, error) {
	recs, err := w.Store.LoadSets(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(recs)
}

// restartOrchestrator replaces the orchestrator with a new one loaded from a
// snapshot of its store (orchestrator-restart). The image catalog is the
// platform's, not the orchestrator's: it is published again.
func (w *World) restartOrchestrator(ctx context.Context, snap []byte) error {
	var recs []*orchestrator.SetRecord
	if err := json.Unmarshal(snap, &recs); err != nil {
		return fmt.Errorf("orchestrator-restart: read the store back: %w", err)
	}
	store := orchestrator.NewMemoryStore()
	opts := w.orchOpts
	opts.Store = journalStore{store}
	for _, r := range recs {
		if err := store.SaveSet(ctx, r); err != nil {
			return err
		}
	}
	for _, e := range w.Store.Journal() {
		_ = store.AppendJournal(ctx, e)
	}
	o, err := orchestrator.New(ctx, opts)
	if err != nil {
		return fmt.Errorf("orchestrator-restart: %w", err)
	}
	for _, v := range w.Orch.Catalog().All() {
		if err := o.Publish(v); err != nil {
			return fmt.Errorf("orchestrator-restart: publish %s again: %w", v.Version, err)
		}
	}
	o.Subscribe(w.onEvent)
	if err := w.attachMetrics(o); err != nil {
		return err
	}
	w.Orch, w.Store = o, store
	w.ctl.killed, w.ctl.snap = false, nil
	w.restarts++
	return nil
}

// journalStore is the world's store: a MemoryStore whose journal keeps at
// most MaxListedBatchInstances reimages of a decision. Nothing in a run
// reads them back (a restarted orchestrator resumes from its set records),
// and at 10^6 instances keeping them all held 46 MB, a third of the run's
// live heap at its end.
type journalStore struct{ *orchestrator.MemoryStore }

func (s journalStore) AppendJournal(ctx context.Context, e orchestrator.JournalEntry) error {
	if n := len(e.Reimages); n > MaxListedBatchInstances {
		// A copy: a subslice would keep the whole array.
		e.Reimages = slices.Clone(e.Reimages[:MaxListedBatchInstances])
		e.Note = strings.TrimSpace(e.Note + fmt.Sprintf(" (%d reimages, the first %d kept)", n, MaxListedBatchInstances))
	}
	return s.MemoryStore.AppendJournal(ctx, e)
}
