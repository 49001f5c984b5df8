package orchestrator_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// batchStore is a BatchStore over a MemoryStore that records what each
// commit made durable: the reimages its journal entries decided.
// failDecisions fails that many commits holding a decision to reimage,
// the first ones.
type batchStore struct {
	*orchestrator.MemoryStore
	o func() *orchestrator.Orchestrator

	mu      sync.Mutex
	durable map[string]bool // "set/index/version" of decided reimages committed
	commits int
	// widest is the most sets whose decisions one commit held.
	widest        int
	failDecisions int
	// lockedCommits counts commits run with the orchestrator's lock held.
	lockedCommits int
	// saved counts each set's records committed.
	saved map[string]int
}

var _ orchestrator.BatchStore = (*batchStore)(nil)

func reimageKey(set string, r plan.Reimage) string {
	return fmt.Sprintf("%s/%d/%s", set, r.Index, r.Image.Version)
}

func (s *batchStore) PrepareWrites(w orchestrator.Writes) (func(context.Context) error, error) {
	// The records are kept by reference, as MemoryStore does: what the
	// test checks is the journal's order against the fleet's.
	journal := append([]orchestrator.JournalEntry(nil), w.Journal...)
	sets := append([]*orchestrator.SetRecord(nil), w.Sets...)
	return func(ctx context.Context) error {
		// A reader must not wait for the commit (countingFleet's check).
		readers := make(chan struct{})
		go func() {
			s.o().ScaleSets()
			close(readers)
		}()
		select {
		case <-readers:
		case <-time.After(5 * time.Second):
			s.mu.Lock()
			s.lockedCommits++
			s.mu.Unlock()
			defer func() { <-readers }()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.commits++
		if s.failDecisions > 0 && slices.ContainsFunc(journal, func(e orchestrator.JournalEntry) bool { return len(e.Reimages) > 0 }) {
			s.failDecisions--
			return errors.New("disk full")
		}
		deciding := map[string]bool{}
		for _, e := range journal {
			for _, r := range e.Reimages {
				s.durable[reimageKey(e.Set, r)] = true
				deciding[e.Set] = true
			}
			if err := s.MemoryStore.AppendJournal(ctx, e); err != nil {
				return err
			}
		}
		for _, r := range sets {
			s.saved[r.Model.Name]++
			if err := s.MemoryStore.SaveSet(ctx, r); err != nil {
				return err
			}
		}
		s.widest = max(s.widest, len(deciding))
		return nil
	}, nil
}

// writeAheadFleet fails the test's count for every reimage made before the
// commit holding its decision returned.
type writeAheadFleet struct {
	*sim.Fleet
	store *batchStore

	mu     sync.Mutex
	made   int
	undone []string
}

func (f *writeAheadFleet) Reimage(ctx context.Context, set string, id int, img plan.Image) error {
	f.store.mu.Lock()
	ok := f.store.durable[reimageKey(set, plan.Reimage{Index: id, Image: img})]
	f.store.mu.Unlock()
	f.mu.Lock()
	f.made++
	if !ok {
		f.undone = append(f.undone, fmt.Sprintf("%s/%d to %s", set, id, img.Version))
	}
	f.mu.Unlock()
	return f.Fleet.Reimage(ctx, set, id, img)
}

func newWriteAheadEnv(t *testing.T, failDecisions int) (*env, *batchStore, *writeAheadFleet) {
	t.Helper()
	e := newEnv(t, 1)
	bs := &batchStore{MemoryStore: e.store, o: func() *orchestrator.Orchestrator { return e.o }, durable: map[string]bool{}, saved: map[string]int{}, failDecisions: failDecisions}
	wf := &writeAheadFleet{Fleet: e.fleet, store: bs}
	o, err := orchestrator.New(e.ctx, orchestrator.Options{Clock: e.clk, Fleet: wf, Store: bs, Seed: 1, ReimageConcurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	e.o = o
	return e, bs, wf
}

// With a BatchStore, a Step pass's decisions are committed together, in
// one commit, before any of their reimages is made (write-ahead), and the
// commit runs without the orchestrator's lock.
func TestBatchedWritesAreDurableBeforeTheirReimages(t *testing.T) {
	e, bs, wf := newWriteAheadEnv(t, 0)
	const sets = 6
	for k := range sets {
		e.create(model(fmt.Sprintf("web-%d", k), "eastus", 10), "1.0.0")
	}
	e.publish(ubuntu, "2.0.0", 0)
	for k := range sets {
		if err := e.o.StartOSUpgrade(e.ctx, fmt.Sprintf("web-%d", k)); err != nil {
			t.Fatal(err)
		}
	}
	e.runUntil(6 * time.Hour)
	for k := range sets {
		if s := e.status(fmt.Sprintf("web-%d", k)); s != plan.StatusCompleted {
			t.Errorf("web-%d: %s, want Completed", k, s)
		}
	}
	if wf.made == 0 {
		t.Fatal("no reimage was made")
	}
	if len(wf.undone) > 0 {
		t.Errorf("%d of %d reimages made before their decision was committed: %v", len(wf.undone), wf.made, wf.undone[:min(5, len(wf.undone))])
	}
	if bs.widest != sets {
		t.Errorf("at most %d sets' decisions in one commit, want the %d that start their batch in the same pass", bs.widest, sets)
	}
	if bs.lockedCommits > 0 {
		t.Errorf("%d commits made with the orchestrator's lock held", bs.lockedCommits)
	}
}

// A commit that fails leaves its decisions undone: the Step that made them
// reports ErrWriteFailed and makes none of their reimages (its last commit,
// which writes them again, fails too here); the next Step writes them
// before it carries them out.
func TestFailedCommitHoldsBackItsReimages(t *testing.T) {
	e, _, wf := newWriteAheadEnv(t, 2)
	e.startManual(model("web", "eastus", 10))
	if _, err := e.o.Step(e.ctx); !errors.Is(err, orchestrator.ErrWriteFailed) {
		t.Fatalf("step with its commit failing: %v, want ErrWriteFailed", err)
	}
	if wf.made != 0 {
		t.Fatalf("%d reimages made after their decision failed to be written", wf.made)
	}
	e.runUntil(6 * time.Hour)
	if s := e.status("web"); s != plan.StatusCompleted {
		t.Errorf("web: %s, want Completed", s)
	}
	if wf.made == 0 || len(wf.undone) > 0 {
		t.Errorf("%d reimages, %d of them before their decision was committed: %v", wf.made, len(wf.undone), wf.undone)
	}
}

// A set stepped with nothing to change is not written again: an idle set
// is stepped at every publication and every new set of the fleet.
func TestIdleSetIsNotWrittenAgain(t *testing.T) {
	e, bs, _ := newWriteAheadEnv(t, 0)
	idle := model("idle", "eastus", 10)
	idle.EnableAutomaticOSUpgrade = false
	e.create(idle, "1.0.0")
	for k := range 3 {
		e.create(model(fmt.Sprintf("web-%d", k), "westus", 10), "1.0.0")
		e.publish(ubuntu, fmt.Sprintf("2.0.%d", k), time.Duration(k)*time.Hour)
	}
	e.runUntil(12 * time.Hour)
	if s := e.status("web-0"); s != plan.StatusCompleted {
		t.Fatalf("web-0: %s, want Completed", s)
	}
	if n := bs.saved["idle"]; n != 1 {
		t.Errorf("the idle set's record was written %d times, want once (its creation)", n)
	}
}
