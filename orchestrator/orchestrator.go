package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Who started a rollout, Azure's names.
const (
	StartedByPlatform = "Platform"
	StartedByUser     = "User"
)

// Platform schedule (R-TRIG-2), plan's.
const (
	FirstRolloutWindow = plan.FirstRolloutWindow
	LaterRolloutMin    = plan.LaterRolloutMin
	LaterRolloutMax    = plan.LaterRolloutMax
)

// Errors callers can test with errors.Is.
var (
	ErrNotFound          = errors.New("scale set not found")
	ErrExists            = errors.New("scale set already exists")
	ErrRolloutInProgress = errors.New("a rollout is in progress")
	ErrNoRollout         = errors.New("no rollout in progress")
	ErrNoImageVersion    = errors.New("no image version available")
	// ErrWriteFailed is a Step's when the store did not make a pass's
	// decisions durable: their reimages wait for the next Step.
	ErrWriteFailed = errors.New("the decisions are not durable: their reimages wait")
)

// Attempt is one rollout of a scale set: the history's unit.
type Attempt struct {
	ID        int            `json:"id"`
	StartedBy string         `json:"startedBy"`
	Target    ImageReference `json:"target"`
	Rollout   *plan.Rollout  `json:"rollout"`
}

// Schedule is a platform rollout the orchestrator has decided to start.
type Schedule struct {
	Version    string    `json:"version"`
	EligibleAt time.Time `json:"eligibleAt"`
	At         time.Time `json:"at"`
}

// SetRecord is everything the orchestrator keeps about one scale set; the
// Store persists it.
type SetRecord struct {
	Model ScaleSet `json:"model"`
	// Version is the version the whole set was last known to run: its
	// creation version, then each completed rollout's target.
	Version          string     `json:"version"`
	EnabledAt        time.Time  `json:"enabledAt,omitzero"`
	FirstRolloutDone bool       `json:"firstRolloutDone"`
	Attempts         []*Attempt `json:"attempts"`
	// Refused are versions the platform does not retry (R-TRIG-5).
	Refused       []string  `json:"refused,omitempty"`
	Scheduled     *Schedule `json:"scheduled,omitempty"`
	ManualPending bool      `json:"manualPending,omitempty"`
	// ManualRequestedAt is when the pending manual trigger was accepted:
	// rollingUpgrades/latest shows it rolling forward from then, before
	// the next Step starts it.
	ManualRequestedAt time.Time `json:"manualRequestedAt,omitzero"`
	// ManualUpgrade are instances waiting for the latest model (R-CRED-1 recovery).
	ManualUpgrade []int `json:"manualUpgrade,omitempty"`
	// Unapplied is the journaled decision not yet confirmed carried out.
	Unapplied []plan.Reimage `json:"unapplied,omitempty"`
}

// Active is the attempt in progress, or nil.
func (r *SetRecord) Active() *Attempt {
	if n := len(r.Attempts); n > 0 && !r.Attempts[n-1].Rollout.Status().Terminal() {
		return r.Attempts[n-1]
	}
	return nil
}

// Last is the newest attempt, or nil.
func (r *SetRecord) Last() *Attempt {
	if n := len(r.Attempts); n > 0 {
		return r.Attempts[n-1]
	}
	return nil
}

// SetEvent is a rollout event of one scale set.
type SetEvent struct {
	Set     string
	Attempt int
	plan.Event
}

// Provisioner is implemented by fleets that create scale sets on demand and
// take model changes (extensions, custom data) for the next reimage.
type Provisioner interface {
	CreateScaleSet(ctx context.Context, model ScaleSet, version string) error
	UpdateModel(ctx context.Context, model ScaleSet) error
	DeleteScaleSet(ctx context.Context, name string) error
}

// Options configure an Orchestrator.
type Options struct {
	Clock Clock
	Fleet Fleet
	Store Store  // nil: an in-memory store
	Seed  uint64 // the platform schedule's draws (R-TRIG-2)
	// ReimageConcurrency bounds parallel Reimage calls, over all scale sets
	// together; 0 or 1: one at a time.
	ReimageConcurrency int
	// Planner configures every rollout's planner, new or loaded: TEST-ONLY,
	// the invariant checker's self-test plants bugs with it
	// (plan/plantedbugs). Empty in production; no flag, API field or
	// stored state sets it.
	Planner []plan.Option
}

// Orchestrator is the runner and control plane. Its methods are safe for
// concurrent use; Step does the fleet I/O, without holding the lock the
// other methods take, so readers see each set as last planned while the
// fleet is observed or reimaged.
type Orchestrator struct {
	// stepMu makes Steps take turns; mu guards everything below.
	stepMu      sync.Mutex
	mu          sync.Mutex
	clock       Clock
	fleet       Fleet
	store       Store
	seed        uint64
	concurrency int
	// slots is the reimage budget all sets share: a reimage holds one.
	slots chan struct{}
	// madeBuf is act's list of the reimages made, kept between batches.
	madeBuf   []plan.Made
	planner   []plan.Option
	catalog   *Catalog
	sets      map[string]*SetRecord
	listeners []func(SetEvent)
	kick      chan struct{}

	// The work queue: a set is stepped when its time in due comes, when
	// marked (an API call, a rollout elsewhere that opens its region
	// phase), or, with a rollout in progress, when the fleet says it
	// changed. markAll: every set is due (a publication, a change of the
	// fleet's phases, a restart).
	due       *dueQueue
	marked    map[string]bool
	markAll   bool
	published time.Time // the next publication the catalog holds; zero: none
	schedule  *plan.FleetSchedule

	// With a BatchStore, writes wait in pending (pendingSet: a set's
	// place in pending.Sets) until commitWrites hands them to the store,
	// then are committed without the lock, each commit after the one
	// before (lastCommit is closed when the last one returns). Every
	// failed commit counts in commitFailures: a Step that saw it during
	// a pass cannot know its decisions are durable, and makes no reimage.
	pending        Writes
	pendingSet     map[string]int
	lastCommit     chan struct{}
	commitFailures atomic.Uint64
	// failedWrites are the writes of failed commits, written again by the
	// next commit; failedMu guards them (a commit fails without o.mu).
	failedMu     sync.Mutex
	failedWrites Writes
}

// New creates an orchestrator and loads what the store holds, so a restarted
// process resumes its rollouts.
func New(ctx context.Context, opts Options) (*Orchestrator, error) {
	if opts.Clock == nil || opts.Fleet == nil {
		return nil, errors.New("orchestrator: Clock and Fleet are required")
	}
	if opts.Store == nil {
		opts.Store = NewMemoryStore()
	}
	o := &Orchestrator{
		clock: opts.Clock, fleet: opts.Fleet, store: opts.Store, seed: opts.Seed,
		concurrency: max(1, opts.ReimageConcurrency), planner: opts.Planner,
		catalog: NewCatalog(), sets: map[string]*SetRecord{}, kick: make(chan struct{}, 1),
		due: newDueQueue(), marked: map[string]bool{}, markAll: true, schedule: plan.NewFleetSchedule(),
		pendingSet: map[string]int{},
	}
	o.slots = make(chan struct{}, o.concurrency)
	recs, err := opts.Store.LoadSets(ctx)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	for _, r := range recs {
		o.sets[r.Model.Name] = r
		if a := r.Active(); a != nil && len(o.planner) > 0 {
			// Planner options are not stored: a loaded rollout gets them again.
			if a.Rollout, err = plan.Restore(a.Rollout.Snapshot(), o.planner...); err != nil {
				return nil, fmt.Errorf("load state: scale set %s: %w", r.Model.Name, err)
			}
		}
		o.schedule.Put(fleetSet(r))
		if a := r.Active(); a != nil {
			o.trackZone(r, a)
		}
	}
	if cs, ok := opts.Store.(CatalogStore); ok {
		vs, err := cs.LoadCatalog(ctx)
		if err != nil {
			return nil, fmt.Errorf("load image catalog: %w", err)
		}
		for _, v := range vs {
			if err := o.catalog.Publish(v); err != nil {
				return nil, fmt.Errorf("load image catalog: %w", err)
			}
		}
	}
	return o, nil
}

// CatalogStore is implemented by stores that also keep the image catalog,
// so that a restarted orchestrator knows what was published.
type CatalogStore interface {
	SaveCatalog(ctx context.Context, versions []ImageVersion) error
	LoadCatalog(ctx context.Context) ([]ImageVersion, error)
}

// Subscribe registers a listener for rollout events. Listeners run inside
// Step and must not call back into the orchestrator.
func (o *Orchestrator) Subscribe(f func(SetEvent)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.listeners = append(o.listeners, f)
}

// Catalog is the image catalog. Publish through Orchestrator.Publish.
func (o *Orchestrator) Catalog() *Catalog { return o.catalog }

// Publish makes an image version known (R-TRIG-1).
func (o *Orchestrator) Publish(v ImageVersion) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.catalog.Publish(v); err != nil {
		return err
	}
	o.markAll = true
	if cs, ok := o.store.(CatalogStore); ok {
		if err := cs.SaveCatalog(context.Background(), o.catalog.All()); err != nil {
			return fmt.Errorf("save image catalog: %w", err)
		}
	}
	o.wake()
	return nil
}

func (o *Orchestrator) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// CreateScaleSet validates and registers a scale set whose instances run
// version, creating them on the fleet when it is a Provisioner.
func (o *Orchestrator) CreateScaleSet(ctx context.Context, model ScaleSet, version string) error {
	if err := Validate(&model); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.sets[model.Name]; ok {
		return fmt.Errorf("%w: %s", ErrExists, model.Name)
	}
	if p, ok := o.fleet.(Provisioner); ok {
		if err := p.CreateScaleSet(ctx, model, version); err != nil {
			return fmt.Errorf("create scale set %s: %w", model.Name, err)
		}
	}
	rec := &SetRecord{Model: model, Version: version}
	if model.EnableAutomaticOSUpgrade {
		rec.EnabledAt = o.clock.Now()
	}
	o.sets[model.Name] = rec
	o.schedule.Put(fleetSet(rec))
	o.markAll = true // a new region can split the image's phases anew
	o.wake()
	return o.persistSet(ctx, rec)
}

// UpdateScaleSet replaces a scale set's model (R-REQ-8 checked); the next
// reimage applies it.
func (o *Orchestrator) UpdateScaleSet(ctx context.Context, model ScaleSet) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec, err := o.record(model.Name)
	if err != nil {
		return err
	}
	if err := ValidateUpdate(&rec.Model, &model); err != nil {
		return err
	}
	if model.Capacity != rec.Model.Capacity {
		return &ValidationError{Code: "PropertyChangeNotAllowed", Target: "sku.capacity", Message: fmt.Sprintf("scaling from %d to %d instances is not supported by the emulator", rec.Model.Capacity, model.Capacity)}
	}
	if p, ok := o.fleet.(Provisioner); ok {
		if err := p.UpdateModel(ctx, model); err != nil {
			return fmt.Errorf("update scale set %s: %w", model.Name, err)
		}
	}
	if model.EnableAutomaticOSUpgrade && !rec.Model.EnableAutomaticOSUpgrade && rec.EnabledAt.IsZero() {
		rec.EnabledAt = o.clock.Now()
	}
	peer := rec.Model.EnableAutomaticOSUpgrade != model.EnableAutomaticOSUpgrade || rec.Model.Image.Ref() != model.Image.Ref()
	rec.Model = model
	o.schedule.Put(fleetSet(rec))
	o.markSet(model.Name)
	if peer {
		o.markAll = true // the image's phases change
	}
	o.wake()
	return o.persistSet(ctx, rec)
}

// DeleteScaleSet removes a scale set that has no rollout in progress.
func (o *Orchestrator) DeleteScaleSet(ctx context.Context, name string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec, err := o.record(name)
	if err != nil {
		return err
	}
	if rec.Active() != nil {
		return fmt.Errorf("delete %s: %w", name, ErrRolloutInProgress)
	}
	if p, ok := o.fleet.(Provisioner); ok {
		if err := p.DeleteScaleSet(ctx, name); err != nil {
			return fmt.Errorf("delete scale set %s: %w", name, err)
		}
	}
	delete(o.sets, name)
	o.schedule.Remove(name)
	o.due.Set(name, time.Time{})
	delete(o.marked, name)
	o.markAll = true
	return o.persistDelete(ctx, name)
}

// record finds a set's record; the caller holds o.mu.
func (o *Orchestrator) record(name string) (*SetRecord, error) {
	rec, ok := o.sets[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return rec, nil
}

// ScaleSet returns a copy of a scale set's model.
func (o *Orchestrator) ScaleSet(name string) (ScaleSet, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec, ok := o.sets[name]
	if !ok {
		return ScaleSet{}, false
	}
	return rec.Model, true
}

// ScaleSets lists the scale set names in order.
func (o *Orchestrator) ScaleSets() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	names := make([]string, 0, len(o.sets))
	for n := range o.sets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// View calls f with the set's record under the orchestrator's lock; f must
// not keep it.
func (o *Orchestrator) View(name string, f func(*SetRecord)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec, err := o.record(name)
	if err != nil {
		return err
	}
	f(rec)
	return nil
}

// StartOSUpgrade is the manual trigger (R-TRIG-3, R-TRIG-5): a rollout to the
// latest version starts at the next Step, whether or not automatic upgrades
// are enabled, and never rolls back. Until then LatestRollout shows it
// rolling forward from now.
func (o *Orchestrator) StartOSUpgrade(ctx context.Context, name string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec, err := o.record(name)
	if err != nil {
		return err
	}
	if rec.Active() != nil || rec.ManualPending {
		return fmt.Errorf("start OS upgrade of %s: %w", name, ErrRolloutInProgress)
	}
	if _, ok := o.manualTarget(rec); !ok {
		return fmt.Errorf("start OS upgrade of %s: %w for %s in %s", name, ErrNoImageVersion, rec.Model.Image.Ref(), rec.Model.Region)
	}
	rec.ManualPending, rec.ManualRequestedAt = true, o.clock.Now()
	o.markSet(name)
	o.wake()
	return o.persistSet(ctx, rec)
}

// Cancel stops the rollout in progress from starting another batch (R-TRIG-4).
func (o *Orchestrator) Cancel(ctx context.Context, name string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec, err := o.record(name)
	if err != nil {
		return err
	}
	if rec.ManualPending {
		rec.ManualPending, rec.ManualRequestedAt = false, time.Time{}
		return o.persistSet(ctx, rec)
	}
	a := rec.Active()
	if a == nil {
		return fmt.Errorf("cancel %s: %w", name, ErrNoRollout)
	}
	a.Rollout.Cancel()
	o.markSet(name)
	o.wake()
	return o.persistSet(ctx, rec)
}

// ManualUpgrade brings instances to the latest model: each gets a new OS
// disk of the version it runs with the model's current extensions (the
// R-CRED-1 recovery after a SAS token is renewed).
func (o *Orchestrator) ManualUpgrade(ctx context.Context, name string, ids []int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec, err := o.record(name)
	if err != nil {
		return err
	}
	if rec.Active() != nil {
		return fmt.Errorf("manual upgrade of %s: %w", name, ErrRolloutInProgress)
	}
	for _, id := range ids {
		if id < 0 || id >= rec.Model.Capacity {
			return &ValidationError{Code: "InvalidParameter", Target: "instanceIds", Message: fmt.Sprintf("instance %d does not exist (the set has %d)", id, rec.Model.Capacity)}
		}
	}
	rec.ManualUpgrade = append(rec.ManualUpgrade, ids...)
	o.markSet(name)
	o.wake()
	return o.persistSet(ctx, rec)
}

// saveSet writes rec: at once to a plain Store, with the other writes of
// the pass or request to a BatchStore (commitWrites). The caller holds o.mu.
func (o *Orchestrator) saveSet(ctx context.Context, rec *SetRecord) error {
	if _, ok := o.store.(BatchStore); !ok {
		return o.store.SaveSet(ctx, rec)
	}
	name := rec.Model.Name
	o.pending.Deleted = slices.DeleteFunc(o.pending.Deleted, func(n string) bool { return n == name })
	if i, ok := o.pendingSet[name]; ok {
		o.pending.Sets[i] = rec // encoded when committed: once however often saved
		return nil
	}
	o.pendingSet[name] = len(o.pending.Sets)
	o.pending.Sets = append(o.pending.Sets, rec)
	return nil
}

// deleteSet removes a set's record, as saveSet writes one.
func (o *Orchestrator) deleteSet(ctx context.Context, name string) error {
	if _, ok := o.store.(BatchStore); !ok {
		return o.store.DeleteSet(ctx, name)
	}
	if i, ok := o.pendingSet[name]; ok {
		o.pending.Sets = slices.Delete(o.pending.Sets, i, i+1)
		delete(o.pendingSet, name)
		for n, j := range o.pendingSet {
			if j > i {
				o.pendingSet[n] = j - 1
			}
		}
	}
	o.pending.Deleted = append(o.pending.Deleted, name)
	return nil
}

// appendJournal journals e, as saveSet writes a record.
func (o *Orchestrator) appendJournal(ctx context.Context, e JournalEntry) error {
	if _, ok := o.store.(BatchStore); !ok {
		return o.store.AppendJournal(ctx, e)
	}
	o.pending.Journal = append(o.pending.Journal, e)
	return nil
}

// persistSet saves rec and commits: a request's change is durable when
// it is answered. The caller holds o.mu, released during the commit.
func (o *Orchestrator) persistSet(ctx context.Context, rec *SetRecord) error {
	if err := o.saveSet(ctx, rec); err != nil {
		return err
	}
	return o.commitWrites(ctx)
}

// persistDelete deletes a set's record and commits, as persistSet.
func (o *Orchestrator) persistDelete(ctx context.Context, name string) error {
	if err := o.deleteSet(ctx, name); err != nil {
		return err
	}
	return o.commitWrites(ctx)
}

// commitChunk is how many records are encoded for the store between two
// turns of the lock: readers wait for a chunk, not for a whole pass. A
// record of a set of 100 instances mid-rollout took about 0.5 ms to encode
// on this 2-core machine under load (plan.Rollout's MarshalJSON output is
// compacted again by encoding/json): 32 a chunk left GET p99 at 55 ms.
const commitChunk = 8

// commitWrites makes every write so far durable (a plain Store wrote each
// at once). The caller holds o.mu; the records are encoded under it a
// chunk at a time, letting readers in between chunks, and committed
// without it, so that readers are not held by an fsync.
//
// Why the order holds: each chunk is prepared (encoded) under o.mu and
// given its turn (lastCommit) then, so each commit holds the state as of
// its turn of the lock; commits run one after another in that order (each
// waits for the one before), so the store never goes back to an older
// record. A record whose set was deleted or made anew by the time its
// chunk is prepared is left out (the deletion was written in its own
// turn). A commit that returns has made its writes and every earlier
// commit's; if an earlier one failed, commitFailures says so before it
// returns.
func (o *Orchestrator) commitWrites(ctx context.Context) error {
	bs, ok := o.store.(BatchStore)
	if !ok {
		return nil
	}
	o.failedMu.Lock()
	failed := o.failedWrites
	o.failedWrites = Writes{}
	o.failedMu.Unlock()
	if !failed.Empty() {
		o.retry(ctx, failed)
	}
	w := o.pending
	o.pending = Writes{}
	clear(o.pendingSet)
	type turn struct {
		writes     Writes
		commit     func(context.Context) error
		prev, done chan struct{}
	}
	var turns []turn
	var err error
	for first := true; first || len(w.Sets) > 0; first = false {
		if !first {
			o.unlocked(runtime.Gosched)
		}
		n := min(len(w.Sets), commitChunk)
		var part Writes
		for _, rec := range w.Sets[:n] {
			if o.sets[rec.Model.Name] == rec {
				part.Sets = append(part.Sets, rec)
			}
		}
		w.Sets = w.Sets[n:]
		if first {
			part.Deleted, part.Journal = w.Deleted, w.Journal
			w.Deleted, w.Journal = nil, nil
		}
		t := turn{writes: part, prev: o.lastCommit, done: make(chan struct{})}
		if !part.Empty() {
			if t.commit, err = bs.PrepareWrites(part); err != nil {
				err = fmt.Errorf("write the state: %w", err)
				o.retry(ctx, part)
				o.retry(ctx, w)
				break
			}
		}
		o.lastCommit = t.done
		turns = append(turns, t)
	}
	o.unlocked(func() {
		for _, t := range turns {
			if t.prev != nil {
				<-t.prev
			}
			if t.commit != nil {
				if cerr := t.commit(ctx); cerr != nil {
					err = errors.Join(err, cerr)
					o.failedMu.Lock()
					o.failedWrites.Sets = append(o.failedWrites.Sets, t.writes.Sets...)
					o.failedWrites.Deleted = append(o.failedWrites.Deleted, t.writes.Deleted...)
					o.failedWrites.Journal = append(o.failedWrites.Journal, t.writes.Journal...)
					o.failedMu.Unlock()
					o.commitFailures.Add(1)
				}
			}
			close(t.done)
		}
	})
	return err
}

// retry puts the writes of a failed commit back before the pending ones:
// a record as it is now, unless its set was deleted (or made anew) since;
// the caller holds o.mu.
func (o *Orchestrator) retry(ctx context.Context, w Writes) {
	later := o.pending
	o.pending = Writes{Journal: w.Journal}
	clear(o.pendingSet)
	for _, name := range w.Deleted {
		if _, ok := o.sets[name]; !ok {
			_ = o.deleteSet(ctx, name)
		}
	}
	for _, rec := range w.Sets {
		if o.sets[rec.Model.Name] == rec {
			_ = o.saveSet(ctx, rec)
		}
	}
	for _, name := range later.Deleted {
		_ = o.deleteSet(ctx, name)
	}
	for _, rec := range later.Sets {
		_ = o.saveSet(ctx, rec)
	}
	o.pending.Journal = append(o.pending.Journal, later.Journal...)
}

// Kick is signalled when a request needs a Step sooner than planned.
func (o *Orchestrator) Kick() <-chan struct{} { return o.kick }

// Run steps the orchestrator until ctx ends: at the planner's wake time, on
// a request, and at least every poll (fleet health is observed, not pushed).
func (o *Orchestrator) Run(ctx context.Context, poll time.Duration, onErr func(error)) error {
	for {
		next, err := o.Step(ctx)
		if err != nil && onErr != nil {
			onErr(err)
		}
		wait := poll
		if !next.IsZero() {
			wait = min(wait, next.Sub(o.clock.Now()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-o.clock.After(max(wait, 0)):
		case <-o.kick:
		}
	}
}

// Step does everything due now: for each scale set that is due (its time
// came, a request or another set's rollout made it due, or the fleet says
// it changed while a rollout is in progress), manual upgrades, the rollout
// in progress (observe, plan, journal, act), and starting the next rollout.
// The sets of one pass are planned in name order and their reimages made
// together, from one budget. It returns the next time something is due
// (zero: nothing).
func (o *Orchestrator) Step(ctx context.Context) (time.Time, error) {
	o.stepMu.Lock()
	defer o.stepMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.clock.Now()
	if !o.published.IsZero() && !o.published.After(now) {
		o.markAll = true // a version published since can start rollouts
	}
	var errs []error
	// A rollout that ends can make a later region phase eligible: step
	// again, at the same time, until nothing ends.
	for pass := 0; pass <= len(o.sets); pass++ {
		due := o.takeDue(now)
		if len(due) == 0 {
			break
		}
		ended := false
		var acts []*pendingAct
		failures := o.commitFailures.Load()
		for _, n := range due {
			rec, ok := o.sets[n]
			if !ok {
				continue
			}
			wake, fin, act, err := o.stepSet(ctx, rec, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("scale set %s: %w", n, err))
			}
			ended = ended || fin
			if act != nil {
				acts = append(acts, act)
				continue
			}
			o.due.Set(n, wake)
		}
		// Write-ahead: the pass's decisions are durable before any of
		// its reimages is made.
		if err := o.commitWrites(ctx); err != nil || o.commitFailures.Load() != failures {
			errs = append(errs, fmt.Errorf("write the decisions of %d scale sets: %w", len(acts), errors.Join(err, ErrWriteFailed)))
			for _, a := range acts {
				// Their decisions stay unapplied: the next Step writes and
				// makes them (advance).
				o.due.Set(a.rec.Model.Name, now)
			}
			break
		}
		o.makeReimages(ctx, acts)
		for _, a := range acts {
			// The rollout's wait counts from each reimage; the rollout
			// may also have ended with this decision (a last rollback).
			wake, fin, err := o.finishAct(ctx, a)
			if err != nil {
				errs = append(errs, fmt.Errorf("scale set %s: %w", a.rec.Model.Name, err))
			}
			ended = ended || fin
			o.due.Set(a.rec.Model.Name, wake)
		}
		if !ended && len(o.marked) == 0 {
			break // a zone freed marks the sets waiting for it: they go now
		}
	}
	if err := o.commitWrites(ctx); err != nil {
		errs = append(errs, err)
	}
	var next time.Time
	o.published, _ = o.catalog.NextPublication(now)
	for _, t := range []time.Time{o.due.Next(), o.published} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next, errors.Join(errs...)
}

// markSet makes a set due at the next step; the caller holds o.mu.
func (o *Orchestrator) markSet(name string) { o.marked[name] = true }

// takeDue lists, in name order, the sets due now and clears their marks;
// the caller holds o.mu.
func (o *Orchestrator) takeDue(now time.Time) []string {
	var due []string
	if o.markAll {
		o.markAll = false
		clear(o.marked)
		for n := range o.sets {
			due = append(due, n)
		}
		if cf, ok := o.fleet.(ChangeFeed); ok {
			cf.ChangedSets() // every set is observed anyway
		}
		slices.Sort(due)
		return due
	}
	due = o.due.PopDue(now, due)
	for n := range o.marked {
		due = append(due, n)
	}
	clear(o.marked)
	busy := func(n string) bool {
		r, ok := o.sets[n]
		return ok && (r.Active() != nil || len(r.ManualUpgrade) > 0)
	}
	cf, ok := o.fleet.(ChangeFeed)
	var changed []string
	all := !ok
	if ok {
		changed, all = cf.ChangedSets()
	}
	if all {
		for n := range o.sets {
			if busy(n) {
				due = append(due, n)
			}
		}
	} else {
		for _, n := range changed {
			if busy(n) {
				due = append(due, n)
			}
		}
	}
	slices.Sort(due)
	return slices.Compact(due)
}

// unlocked runs fleet I/O without the orchestrator's lock; the caller
// holds it, and holds it again when unlocked returns.
func (o *Orchestrator) unlocked(f func()) {
	o.mu.Unlock()
	defer o.mu.Lock()
	f()
}

// pendingAct is a decision journaled and not yet carried out: its reimages
// are made with those of the other sets of the step.
type pendingAct struct {
	rec      *SetRecord
	a        *Attempt
	reimages []plan.Reimage
	now      time.Time
	wakeAt   time.Time
	made     []plan.Made
	failed   []failedReimage
}

// stepSet advances one set; ended reports a rollout that finished. A
// decision with reimages comes back as act, to be carried out with the
// other sets' (finishAct).
func (o *Orchestrator) stepSet(ctx context.Context, rec *SetRecord, now time.Time) (wake time.Time, ended bool, act *pendingAct, err error) {
	// What a step of a set without a rollout can change: an unchanged
	// record is not written again (1,000 idle sets are stepped at every
	// publication or new set).
	scheduled, manualPending, manualUpgrade := rec.Scheduled, rec.ManualPending, len(rec.ManualUpgrade)
	if len(rec.ManualUpgrade) > 0 && rec.Active() == nil {
		if err := o.applyManualUpgrade(ctx, rec); err != nil {
			return now, false, nil, err
		}
	}
	for range 3 {
		if a := rec.Active(); a != nil {
			w, act, err := o.advance(ctx, rec, a, now)
			if act != nil || err != nil || !a.Rollout.Status().Terminal() {
				return w, false, act, err
			}
			ended = true
			o.settle(rec, a)
			if err := o.saveSet(ctx, rec); err != nil {
				return time.Time{}, ended, nil, err
			}
		}
		started, w := o.schedulePlatform(rec, now)
		if !started {
			if !ended && rec.Scheduled == scheduled && rec.ManualPending == manualPending && len(rec.ManualUpgrade) == manualUpgrade {
				return w, false, nil, nil
			}
			if err := o.saveSet(ctx, rec); err != nil {
				return time.Time{}, ended, nil, err
			}
			return w, ended, nil, nil
		}
	}
	return now, ended, nil, nil
}

// advance runs one planner step of the active attempt; reimages it
// decides come back as act.
func (o *Orchestrator) advance(ctx context.Context, rec *SetRecord, a *Attempt, now time.Time) (time.Time, *pendingAct, error) {
	name := rec.Model.Name
	obs, err := o.observe(ctx, name)
	if err != nil {
		return now, nil, fmt.Errorf("observe: %w", err)
	}
	if len(obs) != rec.Model.Capacity {
		return now, nil, fmt.Errorf("observe: the fleet has %d instances, the model %d", len(obs), rec.Model.Capacity)
	}
	if len(rec.Unapplied) > 0 {
		// A decision was journaled but maybe not carried out (a restart):
		// finish it without reimaging twice.
		var todo []plan.Reimage
		for _, r := range rec.Unapplied {
			if obs[r.Index].Version != r.Image.Version {
				todo = append(todo, r)
			}
		}
		if len(todo) == len(rec.Unapplied) {
			// Nothing of it reached the fleet: if it began a batch, the
			// batch's gates are checked again now (R-STOP-1/2, R-PRE-1).
			unmade := make([]int, len(todo))
			for i, r := range todo {
				unmade[i] = r.Index
			}
			if d := a.Rollout.RecheckBatchStart(plan.Observation{Now: now, Instances: obs}, unmade); d.Status.Terminal() {
				rec.Unapplied = nil
				if err := o.appendJournal(ctx, JournalEntry{Time: now, Set: name, Attempt: a.ID, Status: a.Rollout.Status(), Events: d.Events, Note: "the batch decided before the restart was withdrawn: " + a.Rollout.ErrorMessage()}); err != nil {
					return now, nil, fmt.Errorf("journal: %w", err)
				}
				if err := o.saveSet(ctx, rec); err != nil {
					return now, nil, fmt.Errorf("journal: %w", err)
				}
				o.emit(name, a.ID, d.Events)
				return d.WakeAt, nil, nil
			}
		}
		// Write-ahead: the decision may not be durable yet (a failed
		// commit left it pending).
		failures := o.commitFailures.Load()
		if err := o.commitWrites(ctx); err != nil || o.commitFailures.Load() != failures {
			return now, nil, fmt.Errorf("journal: %w", errors.Join(err, ErrWriteFailed))
		}
		p := &pendingAct{rec: rec, a: a, reimages: todo, now: now}
		o.makeReimages(ctx, []*pendingAct{p})
		o.recordMade(ctx, p)
		rec.Unapplied = nil
		if err := o.saveSet(ctx, rec); err != nil {
			return now, nil, err
		}
		if obs, err = o.observe(ctx, name); err != nil {
			return now, nil, fmt.Errorf("observe: %w", err)
		}
	}
	observation := plan.Observation{Now: now, Instances: obs}
	var wait *zoneWait
	if a.StartedBy == StartedByPlatform {
		// R-AVAIL-1 across the region: the fleet schedule admits the batch.
		observation.Admit = func(b plan.Batch) bool {
			ok, holder, holderZone, newly := o.schedule.AdmitBatch(name, rec.Model.Region, a.Target.Ref(), a.Target.Version, b.Zone)
			if !ok && newly {
				_, n, _ := a.Rollout.Current()
				wait = &zoneWait{batch: n, zone: b.Zone, holder: holder, holderZone: holderZone}
			}
			return ok
		}
	}
	d := a.Rollout.Next(observation)
	o.trackZone(rec, a)
	rec.Unapplied = d.Reimages
	entry := JournalEntry{Time: now, Set: name, Attempt: a.ID, Status: a.Rollout.Status(), Reimages: d.Reimages, Events: d.Events}
	if wait != nil {
		ev := plan.Event{Kind: EventZoneWait, Batch: wait.batch, Time: now}
		d.Events = append(d.Events, ev)
		entry.Events = d.Events
		entry.Note = zoneWaitNote(wait, a.Target.Version, rec.Model.Region)
	}
	if err := o.appendJournal(ctx, entry); err != nil {
		return now, nil, fmt.Errorf("journal: %w", err)
	}
	if err := o.saveSet(ctx, rec); err != nil {
		return now, nil, fmt.Errorf("journal: %w", err)
	}
	o.emit(name, a.ID, d.Events)
	if len(d.Reimages) > 0 {
		return d.WakeAt, &pendingAct{rec: rec, a: a, reimages: d.Reimages, now: now, wakeAt: d.WakeAt}, ctx.Err()
	}
	rec.Unapplied = nil
	if err := o.saveSet(ctx, rec); err != nil {
		return now, nil, err
	}
	return d.WakeAt, nil, ctx.Err()
}

// R-AVAIL-1 across a region: how a platform batch held back for its zone
// shows (the rollout stays in progress).
const (
	// EventZoneWait is the event of a set whose next batch waits for its
	// zone while another set of the region has the version in flight in
	// another zone.
	EventZoneWait plan.EventKind = "batch waits for zone"
	// NoteZoneWait is in the journal note of that wait, with the batch, its
	// zone, and the set and zone in the way.
	NoteZoneWait = "waits for its zone (R-AVAIL-1 across the region)"
)

// zoneWait is a batch the fleet schedule held back.
type zoneWait struct {
	batch              int
	zone               string
	holder, holderZone string
}

// zoneWaitNote says why a batch waits, as the fleet schedule refused it:
// the region is in another zone (a set holds it, in flight or between its
// batches), or the set's own zone is the region's and drains, because a
// set waits for another zone and the current one takes no newcomer.
func zoneWaitNote(w *zoneWait, version, region string) string {
	if w.zone == w.holderZone {
		return fmt.Sprintf("batch %d in zone %s %s: zone %s is %s's zone for %s and takes no new set until it drains (%s is still in it), because another set waits for another zone", w.batch, w.zone, NoteZoneWait, w.zone, region, version, w.holder)
	}
	return fmt.Sprintf("batch %d in zone %s %s: %s is in zone %s for %s (held by %s, whose rollout is in that zone)", w.batch, w.zone, NoteZoneWait, region, w.holderZone, version, w.holder)
}

// trackZone tells the fleet schedule where a platform rollout's batch is in
// flight; the sets waiting for a zone it frees are due.
func (o *Orchestrator) trackZone(rec *SetRecord, a *Attempt) {
	if a.StartedBy != StartedByPlatform {
		return
	}
	r := a.Rollout
	inFlight := r.InBatch() && !r.Status().Terminal()
	zone := ""
	if b, _, ok := r.Current(); inFlight && ok {
		zone = b.Zone
	}
	var due []string
	if r.Status().Terminal() {
		due = o.schedule.RolloutEnded(rec.Model.Name, rec.Model.Region, a.Target.Ref(), a.Target.Version)
	} else {
		due = o.schedule.BatchInFlight(rec.Model.Name, rec.Model.Region, a.Target.Ref(), a.Target.Version, zone, inFlight)
	}
	for _, n := range due {
		o.markSet(n)
	}
}

// observe reads a set from the fleet without the lock.
func (o *Orchestrator) observe(ctx context.Context, name string) (obs []plan.Instance, err error) {
	o.unlocked(func() { obs, err = o.fleet.Observe(ctx, name) })
	return obs, err
}

// finishAct carries out nothing itself: makeReimages did; it tells the
// rollout what was made and when it must be stepped again.
func (o *Orchestrator) finishAct(ctx context.Context, p *pendingAct) (wake time.Time, ended bool, err error) {
	if o.sets[p.rec.Model.Name] != p.rec {
		return time.Time{}, false, nil // deleted meanwhile
	}
	o.recordMade(ctx, p)
	wake = p.wakeAt
	if p.a.Rollout.InBatch() {
		// The waits count from each reimage (ReimagesMade).
		wake = p.a.Rollout.EarliestDeadline()
	}
	p.rec.Unapplied = nil
	if err := o.saveSet(ctx, p.rec); err != nil {
		return p.now, false, err
	}
	if p.a.Rollout.Status().Terminal() {
		// Settled by the next pass, at the same time.
		o.markSet(p.rec.Model.Name)
		return p.now, true, ctx.Err()
	}
	return wake, false, ctx.Err()
}

// recordMade journals the failed reimages of p, emits an event for each
// one made and tells the rollout when each was made. A failed reimage is
// journaled; the planner then sees the instance not healthy on its target
// and its deadline handles it.
func (o *Orchestrator) recordMade(ctx context.Context, p *pendingAct) {
	name, a, rs := p.rec.Model.Name, p.a, p.reimages
	batch := a.Rollout.BatchesStarted()
	failed, made := p.failed, p.made
	for i, k := 0, 0; i < len(rs); i++ {
		if len(failed) > 0 && failed[0].pos == i {
			_ = o.appendJournal(ctx, JournalEntry{Time: p.now, Set: name, Attempt: a.ID, Status: a.Rollout.Status(), Note: fmt.Sprintf("reimage of instance %d to %s failed: %v", rs[i].Index, rs[i].Image.Version, failed[0].err)})
			failed = failed[1:]
			continue
		}
		o.emitOne(name, a.ID, plan.Event{Kind: plan.EventInstanceReimaged, Batch: batch, Instance: made[k].Index, Time: made[k].At})
		k++
	}
	a.Rollout.ReimagesMade(p.made)
	if cap(p.made) > cap(o.madeBuf) {
		o.madeBuf = p.made[:0] // the largest list is kept for the next batch
	}
	p.made, p.failed = nil, nil
}

// failedReimage is a reimage of act's list (at pos) the fleet refused.
type failedReimage struct {
	pos int
	err error
}

// makeReimages carries out the reimages of every act, without the lock.
// With a budget of one they are made one after another, set by set. Else
// they share the budget of o.concurrency reimages in flight: each set's
// reimages are handed out in turn with the other sets' (round robin), so a
// large batch does not hold back a small one. Each act's made lists those
// made, in its order, with when each began: on a real fleet a batch is
// reimaged a few at a time, and each instance's wait counts from its own;
// failed lists the others.
func (o *Orchestrator) makeReimages(ctx context.Context, acts []*pendingAct) {
	if len(acts) == 0 {
		return // a pass with nothing to make keeps the list for the next
	}
	buf := o.madeBuf
	o.madeBuf = nil
	o.unlocked(func() {
		if o.concurrency <= 1 {
			for _, p := range acts {
				// A simulated batch of 200,000 allocated 14 MB of
				// bookkeeping: one set's list reuses the last one's,
				// sized once (appending from nil copied it ~18 times).
				made := buf[:0]
				buf = nil
				if cap(made) < len(p.reimages) {
					made = make([]plan.Made, 0, len(p.reimages))
				}
				for i, r := range p.reimages {
					at := o.clock.Now()
					if err := o.fleet.Reimage(ctx, p.rec.Model.Name, r.Index, r.Image); err != nil {
						p.failed = append(p.failed, failedReimage{pos: i, err: err})
						continue
					}
					made = append(made, plan.Made{Index: r.Index, At: at})
				}
				p.made = made
			}
			return
		}
		errs := make([][]error, len(acts))
		began := make([][]time.Time, len(acts))
		for k, p := range acts {
			errs[k] = make([]error, len(p.reimages))
			began[k] = make([]time.Time, len(p.reimages))
		}
		var wg sync.WaitGroup
		for i := 0; ; i++ {
			more := false
			for k, p := range acts {
				if i >= len(p.reimages) {
					continue
				}
				more = true
				r := p.reimages[i]
				wg.Add(1)
				o.slots <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-o.slots }()
					began[k][i] = o.clock.Now()
					errs[k][i] = o.fleet.Reimage(ctx, p.rec.Model.Name, r.Index, r.Image)
				}()
			}
			if !more {
				break
			}
		}
		wg.Wait()
		for k, p := range acts {
			p.made = make([]plan.Made, 0, len(p.reimages))
			for i, r := range p.reimages {
				if errs[k][i] != nil {
					p.failed = append(p.failed, failedReimage{pos: i, err: errs[k][i]})
					continue
				}
				p.made = append(p.made, plan.Made{Index: r.Index, At: began[k][i]})
			}
		}
	})
}

func (o *Orchestrator) emit(set string, attempt int, evs []plan.Event) {
	for _, e := range evs {
		o.emitOne(set, attempt, e)
	}
}

func (o *Orchestrator) emitOne(set string, attempt int, e plan.Event) {
	for _, l := range o.listeners {
		l(SetEvent{Set: set, Attempt: attempt, Event: e})
	}
}

// settle records the end of an attempt; a completed one goes into the fleet
// schedule, and the sets of a region phase it opens are due.
func (o *Orchestrator) settle(rec *SetRecord, a *Attempt) {
	o.trackZone(rec, a)
	switch a.Rollout.Status() {
	case plan.StatusCompleted:
		rec.Version = a.Target.Version
		for _, n := range o.schedule.Complete(rec.Model.Name, a.Target.Version, a.Rollout.EndTime()) {
			o.markSet(n)
		}
	default:
		// R-TRIG-5: a version whose rollout did not complete is not retried.
		if !slices.Contains(rec.Refused, a.Target.Version) {
			rec.Refused = append(rec.Refused, a.Target.Version)
		}
	}
	if a.StartedBy == StartedByPlatform {
		rec.FirstRolloutDone = true
	}
	rec.Scheduled = nil
}

// fleetSet is what the fleet schedule knows of a set's record.
func fleetSet(rec *SetRecord) plan.FleetSet {
	s := plan.FleetSet{Name: rec.Model.Name, Region: rec.Model.Region, Ref: rec.Model.Image.Ref(), Auto: rec.Model.EnableAutomaticOSUpgrade, Base: rec.Version, Zones: rec.Model.Zones}
	for _, a := range rec.Attempts {
		if a.Rollout.Status() == plan.StatusCompleted {
			s.Completed = append(s.Completed, plan.Completion{Version: a.Target.Version, At: a.Rollout.EndTime()})
		}
	}
	return s
}

// applyManualUpgrade reimages the listed instances to the version they run.
func (o *Orchestrator) applyManualUpgrade(ctx context.Context, rec *SetRecord) error {
	name := rec.Model.Name
	obs, err := o.observe(ctx, name)
	if err != nil {
		return fmt.Errorf("observe: %w", err)
	}
	ids := slices.Clone(rec.ManualUpgrade)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ref := rec.Model.Image.Ref()
	var errs []error
	o.unlocked(func() {
		for _, id := range ids {
			if id >= len(obs) {
				continue
			}
			img := plan.Image{Ref: ref, Version: obs[id].Version}
			if err := o.fleet.Reimage(ctx, name, id, img); err != nil {
				errs = append(errs, fmt.Errorf("manual upgrade of instance %d: %w", id, err))
			}
		}
	})
	rec.ManualUpgrade = nil
	_ = o.appendJournal(ctx, JournalEntry{Time: o.clock.Now(), Set: name, Note: fmt.Sprintf("manual upgrade of %d instances to the latest model", len(ids))})
	return errors.Join(errs...)
}

// manualTarget is the version a manual trigger upgrades to: a pinned model
// version, or the newest version available in the set's region.
func (o *Orchestrator) manualTarget(rec *SetRecord) (string, bool) {
	img := rec.Model.Image
	if img.Version != "" && img.Version != "latest" {
		return img.Version, true
	}
	v, ok := o.catalog.Latest(img.Ref(), rec.Model.Region, o.clock.Now())
	return v.Version, ok
}

// schedulePlatform starts the next rollout if one is due: a manual trigger
// now, or a platform rollout on the fleet schedule: the candidate version
// (R-TRIG-1, R-TRIG-5) once eligible (R-AVAIL-2), at its time (R-TRIG-2).
func (o *Orchestrator) schedulePlatform(rec *SetRecord, now time.Time) (started bool, wake time.Time) {
	if rec.ManualPending {
		rec.ManualPending, rec.ManualRequestedAt = false, time.Time{}
		if v, ok := o.manualTarget(rec); ok {
			return o.start(rec, v, StartedByUser, now), now
		}
	}
	if !rec.Model.EnableAutomaticOSUpgrade {
		rec.Scheduled = nil
		return false, time.Time{}
	}
	latest, ok := o.catalog.Latest(rec.Model.Image.Ref(), rec.Model.Region, now)
	version, ok := plan.PlatformCandidate(latest.Version, ok, rec.Version, rec.Refused)
	if !ok {
		rec.Scheduled = nil
		return false, time.Time{}
	}
	eligibleAt := latest.PublishedAt
	if !latest.IsGallery() {
		// Gallery versions go by replication; platform ones by phases.
		if eligibleAt, ok = o.schedule.EligibleAt(rec.Model.Name, version, latest.PublishedAt); !ok {
			rec.Scheduled = nil
			return false, time.Time{}
		}
	}
	if rec.Scheduled == nil || rec.Scheduled.Version != version || !rec.Scheduled.EligibleAt.Equal(eligibleAt) {
		at := plan.PlatformStart(o.draw, rec.Model.Name, version, rec.FirstRolloutDone, rec.EnabledAt, eligibleAt)
		rec.Scheduled = &Schedule{Version: version, EligibleAt: eligibleAt, At: at}
	}
	if now.Before(rec.Scheduled.At) {
		return false, rec.Scheduled.At
	}
	return o.start(rec, version, StartedByPlatform, now), now
}

// draw is a deterministic duration in [lo, hi] for (seed, set, key): the
// same seed gives the same schedule whatever order sets are stepped in.
func (o *Orchestrator) draw(set, key string, lo, hi time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(set + "\x00" + key))
	rng := rand.New(rand.NewPCG(o.seed, h.Sum64()))
	// Whole seconds keep schedules readable.
	span := int64((hi - lo) / time.Second)
	return lo + time.Duration(rng.Int64N(span+1))*time.Second
}

// start opens a new attempt.
func (o *Orchestrator) start(rec *SetRecord, version, startedBy string, now time.Time) bool {
	target := rec.Model.Image
	target.Version = version
	zones := rec.Model.Zones
	if startedBy == StartedByPlatform {
		zones = o.schedule.PlatformZones(rec.Model.Name, zones) // the region's zone order (R-AVAIL-1)
	}
	r, err := plan.NewRollout(rec.Model.Policy(), plan.Image{Ref: target.Ref(), Version: version}, zones, startedBy == StartedByUser, now, o.planner...)
	if err != nil {
		// The model was validated on the way in; a policy error here is a bug.
		panic(fmt.Sprintf("orchestrator: validated model %s has an invalid policy: %v", rec.Model.Name, err))
	}
	rec.Attempts = append(rec.Attempts, &Attempt{ID: len(rec.Attempts) + 1, StartedBy: startedBy, Target: target, Rollout: r})
	rec.Scheduled = nil
	return true
}

// InFlight reports whether any rollout is in progress or about to start
// (a manual trigger or manual upgrade not yet carried out).
func (o *Orchestrator) InFlight() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.sets {
		if r.Active() != nil || r.ManualPending || len(r.ManualUpgrade) > 0 {
			return true
		}
	}
	return false
}
