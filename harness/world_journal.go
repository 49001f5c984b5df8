package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// watchFleet starts the journal of a fleet that reports from outside.
func (w *World) watchFleet(ctx context.Context, slack time.Duration) error {
	fw, ok := w.Fleet.(backend.Watcher)
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
	opts.Store = journalStore{store, w.reimages}
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
	w.reimages.orchestratorDead(false)
	w.restarts++
	return nil
}

// journalStore is the world's store: a MemoryStore whose journal keeps at
// most MaxListedBatchInstances reimages of a decision. Nothing in a run
// reads them back (a restarted orchestrator resumes from its set records),
// and at 10^6 instances keeping them all held 46 MB, a third of the run's
// live heap at its end. Each journal entry also marks a decision in the
// fleet's reimage log (reimageLog.decided).
type journalStore struct {
	*orchestrator.MemoryStore
	reimages *reimageLog
}

func (s journalStore) AppendJournal(ctx context.Context, e orchestrator.JournalEntry) error {
	if s.reimages != nil {
		s.reimages.decided()
	}
	if n := len(e.Reimages); n > MaxListedBatchInstances {
		// A copy: a subslice would keep the whole array.
		e.Reimages = slices.Clone(e.Reimages[:MaxListedBatchInstances])
		e.Note = strings.TrimSpace(e.Note + fmt.Sprintf(" (%d reimages, the first %d kept)", n, MaxListedBatchInstances))
	}
	return s.MemoryStore.AppendJournal(ctx, e)
}
