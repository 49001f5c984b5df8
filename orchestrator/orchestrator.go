package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Who started a rollout, Azure's names.
const (
	StartedByPlatform = "Platform"
	StartedByUser     = "User"
)

// Platform schedule (R-TRIG-2).
const (
	FirstRolloutWindow = 3 * time.Hour
	LaterRolloutMin    = 30 * time.Minute
	LaterRolloutMax    = 60 * time.Minute
)

// Errors callers can test with errors.Is.
var (
	ErrNotFound          = errors.New("scale set not found")
	ErrExists            = errors.New("scale set already exists")
	ErrRolloutInProgress = errors.New("a rollout is in progress")
	ErrNoRollout         = errors.New("no rollout in progress")
	ErrNoImageVersion    = errors.New("no image version available")
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
	// ReimageConcurrency bounds parallel Reimage calls; 0 or 1: one at a time.
	ReimageConcurrency int
	// Planner configures every rollout's planner, new or loaded: TEST-ONLY,
	// the invariant checker's self-test plants bugs with it
	// (plan/plantedbugs). Empty in production; no flag, API field or
	// stored state sets it.
	Planner []plan.Option
}

// Orchestrator is the runner and control plane. Its methods are safe for
// concurrent use; Step does the fleet I/O.
type Orchestrator struct {
	mu          sync.Mutex
	clock       Clock
	fleet       Fleet
	store       Store
	seed        uint64
	concurrency int
	// madeBuf is act's list of the reimages made, kept between batches.
	madeBuf   []plan.Made
	planner   []plan.Option
	catalog   *Catalog
	sets      map[string]*SetRecord
	listeners []func(SetEvent)
	kick      chan struct{}
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
	}
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
	o.wake()
	return o.store.SaveSet(ctx, rec)
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
	rec.Model = model
	o.wake()
	return o.store.SaveSet(ctx, rec)
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
	return o.store.DeleteSet(ctx, name)
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
// are enabled, and never rolls back.
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
	rec.ManualPending = true
	o.wake()
	return o.store.SaveSet(ctx, rec)
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
		rec.ManualPending = false
		return o.store.SaveSet(ctx, rec)
	}
	a := rec.Active()
	if a == nil {
		return fmt.Errorf("cancel %s: %w", name, ErrNoRollout)
	}
	a.Rollout.Cancel()
	o.wake()
	return o.store.SaveSet(ctx, rec)
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
	o.wake()
	return o.store.SaveSet(ctx, rec)
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

// Step does everything due now for every scale set: manual upgrades, the
// rollout in progress (observe, plan, journal, act), and starting the next
// rollout. It returns the next time something is due (zero: nothing).
func (o *Orchestrator) Step(ctx context.Context) (time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	names := make([]string, 0, len(o.sets))
	for n := range o.sets {
		names = append(names, n)
	}
	slices.Sort(names)
	var errs []error
	var next time.Time
	// A rollout that ends can make a later region phase eligible: step again
	// until nothing ends.
	for pass := 0; pass <= len(names); pass++ {
		next = time.Time{}
		ended := false
		for _, n := range names {
			wake, fin, err := o.stepSet(ctx, o.sets[n])
			if err != nil {
				errs = append(errs, fmt.Errorf("scale set %s: %w", n, err))
			}
			ended = ended || fin
			if !wake.IsZero() && (next.IsZero() || wake.Before(next)) {
				next = wake
			}
		}
		if !ended {
			break
		}
	}
	// A version published later can start a rollout then.
	if t, ok := o.catalog.NextPublication(o.clock.Now()); ok && (next.IsZero() || t.Before(next)) {
		next = t
	}
	return next, errors.Join(errs...)
}

// stepSet advances one set; ended reports a rollout that finished.
func (o *Orchestrator) stepSet(ctx context.Context, rec *SetRecord) (wake time.Time, ended bool, err error) {
	now := o.clock.Now()
	if len(rec.ManualUpgrade) > 0 && rec.Active() == nil {
		if err := o.applyManualUpgrade(ctx, rec); err != nil {
			return now, false, err
		}
	}
	for range 3 {
		if a := rec.Active(); a != nil {
			w, err := o.advance(ctx, rec, a, now)
			if err != nil || !a.Rollout.Status().Terminal() {
				return w, false, err
			}
			ended = true
			o.settle(rec, a)
			if err := o.store.SaveSet(ctx, rec); err != nil {
				return time.Time{}, ended, err
			}
		}
		started, w := o.schedule(rec, now)
		if !started {
			if err := o.store.SaveSet(ctx, rec); err != nil {
				return time.Time{}, ended, err
			}
			return w, ended, nil
		}
	}
	return now, ended, nil
}

// advance runs one planner step of the active attempt and carries it out.
func (o *Orchestrator) advance(ctx context.Context, rec *SetRecord, a *Attempt, now time.Time) (time.Time, error) {
	name := rec.Model.Name
	obs, err := o.fleet.Observe(ctx, name)
	if err != nil {
		return now, fmt.Errorf("observe: %w", err)
	}
	if len(obs) != rec.Model.Capacity {
		return now, fmt.Errorf("observe: the fleet has %d instances, the model %d", len(obs), rec.Model.Capacity)
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
				if err := o.store.AppendJournal(ctx, JournalEntry{Time: now, Set: name, Attempt: a.ID, Status: d.Status, Events: d.Events, Note: "the batch decided before the restart was withdrawn: " + d.ErrorMessage}); err != nil {
					return now, fmt.Errorf("journal: %w", err)
				}
				if err := o.store.SaveSet(ctx, rec); err != nil {
					return now, fmt.Errorf("journal: %w", err)
				}
				o.emit(name, a.ID, d.Events)
				return d.WakeAt, nil
			}
		}
		o.act(ctx, rec, a, todo, now)
		rec.Unapplied = nil
		if err := o.store.SaveSet(ctx, rec); err != nil {
			return now, err
		}
		if obs, err = o.fleet.Observe(ctx, name); err != nil {
			return now, fmt.Errorf("observe: %w", err)
		}
	}
	d := a.Rollout.Next(plan.Observation{Now: now, Instances: obs})
	rec.Unapplied = d.Reimages
	if err := o.store.AppendJournal(ctx, JournalEntry{Time: now, Set: name, Attempt: a.ID, Status: d.Status, Reimages: d.Reimages, Events: d.Events}); err != nil {
		return now, fmt.Errorf("journal: %w", err)
	}
	if err := o.store.SaveSet(ctx, rec); err != nil {
		return now, fmt.Errorf("journal: %w", err)
	}
	o.emit(name, a.ID, d.Events)
	o.act(ctx, rec, a, d.Reimages, now)
	if len(d.Reimages) > 0 && a.Rollout.InBatch() {
		// The waits count from each reimage (ReimagesMade).
		d.WakeAt = a.Rollout.EarliestDeadline()
	}
	rec.Unapplied = nil
	if err := o.store.SaveSet(ctx, rec); err != nil {
		return now, err
	}
	return d.WakeAt, ctx.Err()
}

// act carries out reimages with bounded concurrency. A failed reimage is
// journaled; the planner then sees the instance not healthy on its target
// and its deadline handles it.
func (o *Orchestrator) act(ctx context.Context, rec *SetRecord, a *Attempt, rs []plan.Reimage, now time.Time) {
	if len(rs) == 0 {
		return
	}
	name := rec.Model.Name
	batch := a.Rollout.BatchesStarted()
	made, failed := o.reimage(ctx, name, rs)
	for i, k := 0, 0; i < len(rs); i++ {
		if len(failed) > 0 && failed[0].pos == i {
			_ = o.store.AppendJournal(ctx, JournalEntry{Time: now, Set: name, Attempt: a.ID, Status: a.Rollout.Status(), Note: fmt.Sprintf("reimage of instance %d to %s failed: %v", rs[i].Index, rs[i].Image.Version, failed[0].err)})
			failed = failed[1:]
			continue
		}
		o.emitOne(name, a.ID, plan.Event{Kind: plan.EventInstanceReimaged, Batch: batch, Instance: made[k].Index, Time: made[k].At})
		k++
	}
	a.Rollout.ReimagesMade(made)
	o.madeBuf = made[:0]
}

// failedReimage is a reimage of act's list (at pos) the fleet refused.
type failedReimage struct {
	pos int
	err error
}

// reimage makes the reimages rs, o.concurrency at a time. made lists those
// made, in rs's order, with when each began: on a real fleet a batch is
// reimaged a few at a time, and each instance's wait counts from its own.
// made reuses the storage of the last batch's (a simulated batch of
// 200,000 allocated 14 MB of bookkeeping for it); failed lists the others.
func (o *Orchestrator) reimage(ctx context.Context, name string, rs []plan.Reimage) (made []plan.Made, failed []failedReimage) {
	made = o.madeBuf[:0]
	if o.concurrency <= 1 {
		for i, r := range rs {
			at := o.clock.Now()
			if err := o.fleet.Reimage(ctx, name, r.Index, r.Image); err != nil {
				failed = append(failed, failedReimage{pos: i, err: err})
				continue
			}
			made = append(made, plan.Made{Index: r.Index, At: at})
		}
		return made, failed
	}
	errs := make([]error, len(rs))
	began := make([]time.Time, len(rs))
	sem := make(chan struct{}, o.concurrency)
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			began[i] = o.clock.Now()
			errs[i] = o.fleet.Reimage(ctx, name, r.Index, r.Image)
		}()
	}
	wg.Wait()
	for i, r := range rs {
		if errs[i] != nil {
			failed = append(failed, failedReimage{pos: i, err: errs[i]})
			continue
		}
		made = append(made, plan.Made{Index: r.Index, At: began[i]})
	}
	return made, failed
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

// settle records the end of an attempt.
func (o *Orchestrator) settle(rec *SetRecord, a *Attempt) {
	switch a.Rollout.Status() {
	case plan.StatusCompleted:
		rec.Version = a.Target.Version
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

// applyManualUpgrade reimages the listed instances to the version they run.
func (o *Orchestrator) applyManualUpgrade(ctx context.Context, rec *SetRecord) error {
	obs, err := o.fleet.Observe(ctx, rec.Model.Name)
	if err != nil {
		return fmt.Errorf("observe: %w", err)
	}
	ids := slices.Clone(rec.ManualUpgrade)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var errs []error
	for _, id := range ids {
		if id >= len(obs) {
			continue
		}
		img := plan.Image{Ref: rec.Model.Image.Ref(), Version: obs[id].Version}
		if err := o.fleet.Reimage(ctx, rec.Model.Name, id, img); err != nil {
			errs = append(errs, fmt.Errorf("manual upgrade of instance %d: %w", id, err))
		}
	}
	rec.ManualUpgrade = nil
	_ = o.store.AppendJournal(ctx, JournalEntry{Time: o.clock.Now(), Set: rec.Model.Name, Note: fmt.Sprintf("manual upgrade of %d instances to the latest model", len(ids))})
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

// schedule starts the next rollout if one is due: a manual trigger now, or a
// platform rollout on the R-TRIG-2 schedule once the version is eligible
// (R-TRIG-1) and its region's phase may go (R-AVAIL-2).
func (o *Orchestrator) schedule(rec *SetRecord, now time.Time) (started bool, wake time.Time) {
	if rec.ManualPending {
		rec.ManualPending = false
		if v, ok := o.manualTarget(rec); ok {
			return o.start(rec, v, StartedByUser, now), now
		}
	}
	if !rec.Model.EnableAutomaticOSUpgrade {
		rec.Scheduled = nil
		return false, time.Time{}
	}
	cand, ok := o.catalog.Latest(rec.Model.Image.Ref(), rec.Model.Region, now)
	if !ok || compareVersions(cand.Version, rec.Version) <= 0 || slices.Contains(rec.Refused, cand.Version) {
		rec.Scheduled = nil
		return false, time.Time{}
	}
	eligibleAt, ok := o.eligibleAt(rec, cand)
	if !ok {
		rec.Scheduled = nil
		return false, time.Time{}
	}
	if rec.Scheduled == nil || rec.Scheduled.Version != cand.Version || !rec.Scheduled.EligibleAt.Equal(eligibleAt) {
		var at time.Time
		if !rec.FirstRolloutDone {
			// The one-time delay: within 3 hours of enabling.
			at = maxTime(eligibleAt, rec.EnabledAt.Add(o.draw(rec.Model.Name, "first", 0, FirstRolloutWindow)))
		} else {
			at = eligibleAt.Add(o.draw(rec.Model.Name, "version/"+cand.Version, LaterRolloutMin, LaterRolloutMax))
		}
		rec.Scheduled = &Schedule{Version: cand.Version, EligibleAt: eligibleAt, At: at}
	}
	if now.Before(rec.Scheduled.At) {
		return false, rec.Scheduled.At
	}
	return o.start(rec, cand.Version, StartedByPlatform, now), now
}

// eligibleAt is when a version becomes eligible for the set: its
// publication, or for platform images in a later region phase, when every
// set of the earlier phases has completed it (R-AVAIL-2).
func (o *Orchestrator) eligibleAt(rec *SetRecord, v ImageVersion) (time.Time, bool) {
	if v.IsGallery() {
		return v.PublishedAt, true
	}
	var peers []*SetRecord
	var regions []string
	for _, r := range o.sets {
		if r.Model.EnableAutomaticOSUpgrade && r.Model.Image.Ref() == v.Ref {
			peers = append(peers, r)
			regions = append(regions, r.Model.Region)
		}
	}
	phases, err := Phases(regions)
	if err != nil {
		return time.Time{}, false
	}
	at := v.PublishedAt
	for _, ph := range phases {
		if slices.Contains(ph, rec.Model.Region) {
			return at, true
		}
		for _, p := range peers {
			if !slices.Contains(ph, p.Model.Region) {
				continue
			}
			done, t := completed(p, v)
			if !done {
				return time.Time{}, false
			}
			at = maxTime(at, t)
		}
	}
	return at, true
}

// completed reports whether a set runs version v or newer, and since when.
func completed(r *SetRecord, v ImageVersion) (bool, time.Time) {
	for i := len(r.Attempts) - 1; i >= 0; i-- {
		a := r.Attempts[i]
		if a.Rollout.Status() == plan.StatusCompleted && compareVersions(a.Target.Version, v.Version) >= 0 {
			return true, a.Rollout.EndTime()
		}
	}
	if compareVersions(r.Version, v.Version) >= 0 {
		return true, v.PublishedAt
	}
	return false, time.Time{}
}

// start opens a new attempt.
func (o *Orchestrator) start(rec *SetRecord, version, startedBy string, now time.Time) bool {
	target := rec.Model.Image
	target.Version = version
	r, err := plan.NewRollout(rec.Model.Policy(), plan.Image{Ref: target.Ref(), Version: version}, rec.Model.Zones, startedBy == StartedByUser, now, o.planner...)
	if err != nil {
		// The model was validated on the way in; a policy error here is a bug.
		panic(fmt.Sprintf("orchestrator: validated model %s has an invalid policy: %v", rec.Model.Name, err))
	}
	rec.Attempts = append(rec.Attempts, &Attempt{ID: len(rec.Attempts) + 1, StartedBy: startedBy, Target: target, Rollout: r})
	rec.Scheduled = nil
	return true
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

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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
