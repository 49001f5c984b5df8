package harness

import (
	"cmp"
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/internal/progress"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/metrics"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
	"github.com/osupgrade/osupgrade/orchestrator/plan/plantedbugs"
)

// DefaultFleet is the backend a scenario runs on when Options say none.
const DefaultFleet = backend.DefaultFleet

// Options say how to run a scenario.
type Options struct {
	// Fleet names the backend (package backend's registry; default
	// DefaultFleet).
	Fleet string
	// Backend, when it has an Open, is the fleet's factory instead of the
	// one registered as Fleet (a test standing one backend in for another).
	Backend backend.Factory
	// RunPrefix starts the run id that names and labels the fleet's
	// resources, before the scenario's name and a random suffix.
	RunPrefix string
	// TimeScale is scenario seconds per wall second on a wall-clock
	// backend (default 60).
	TimeScale float64
	// Poll is how often a fleet without event notification is observed
	// while a rollout runs, in scenario time (default 5s).
	Poll time.Duration
	// Progress receives a wall-clock fleet's set-up lines; nil: Printer's.
	Progress io.Writer
	// Printer shows the rollout events (a batch started, finished) as
	// they happen; nil: silent.
	Printer *progress.Printer
	// Wall measures the run's wall time; nil: not measured.
	Wall func() time.Time
	// JournalSlack shortens the journal's 5-minute upgrade wait where the
	// fleet's timestamps trail the orchestrator's decisions (default: the
	// backend's Factory.JournalSlack).
	JournalSlack time.Duration

	// observeOnly: the world learns of the fleet's changes only by
	// observing it, even on the sim (whose NextEvent it then ignores), as
	// on a wall-clock fleet. Set by this package's tests.
	observeOnly bool

	// bugs are planted in the planner (through its hooks) and the fleet:
	// the invariant checker's self-test only, set by this package's tests
	// and PlantBugs; no scenario, flag or API reaches it.
	bugs plantedbugs.Bug
}

// World is one scenario's fleet, orchestrator and clock.
type World struct {
	Scenario  *scenario.File
	FleetName string
	Fleet     backend.Fleet
	Orch      *orchestrator.Orchestrator
	Store     *orchestrator.MemoryStore
	Clock     orchestrator.Clock
	Start     time.Time
	Seed      uint64

	images   []orchestrator.ImageVersion
	rejected map[string]error
	dataAt0  map[string][]uint64
	events   []orchestrator.SetEvent
	dueOn    []firedOn
	fired    []bool
	// pendingOn counts `on:` entries not yet fired.
	pendingOn int
	undos     []undo
	problems  []string
	virtual   *clock.Virtual
	scaled    *clock.Scaled
	// settle is the scenario time left to pass for real before a skipped-to event.
	settle  time.Duration
	closers []func(context.Context) error

	journal    *Journal
	journalMu  *sync.Mutex
	ctl        *controlPlane
	orchOpts   orchestrator.Options
	foreignAt0 []string
	restarts   int
	// wall times fault applications (Options.Wall); nil: not timed.
	wall         func() time.Time
	faultTimings []FaultTiming
	// metrics is the orchestrator's Prometheus metrics, as serve exports
	// them; metricsBefore the counts of orchestrators replaced by restarts.
	metrics       *metrics.Metrics
	metricsBefore metricTotals
	// reimages is what the fleet was made to do, for the final state.
	reimages *reimageLog
	// faultChanged is when a fault was last applied or ended.
	faultChanged time.Time
	printer      *progress.Printer

	// userStarted are the sets whose next rollout the world asked for by a
	// manual trigger: the journal holds them to R-AVAIL-1 within the set.
	userStarted map[string]bool

	// concurrency is how many reimages the orchestrator runs at once
	// (Factory.ReimageConcurrency); kernelNetwork is Factory.KernelNetwork.
	concurrency   int
	kernelNetwork bool
}

type firedOn struct {
	entry int
	set   string
}

type undo struct {
	at   time.Time
	desc string
	fn   func(context.Context) error
}

// ErrBadInput marks a scenario that cannot be run as written.
var ErrBadInput = errors.New("bad input")

// NewWorld builds the world of a scenario: the fleet, the orchestrator, the
// scale sets (validated; a rejection the scenario expects is recorded), the
// running versions in the catalog.
func NewWorld(ctx context.Context, f *scenario.File, opts Options) (*World, error) {
	w := &World{Scenario: f, Seed: 1, Start: clock.Epoch, rejected: map[string]error{}, dataAt0: map[string][]uint64{}, fired: make([]bool, len(f.Timeline)), wall: opts.Wall, printer: opts.Printer}
	if f.Seed != nil {
		w.Seed = *f.Seed
	}
	for _, e := range f.Timeline {
		if e.On != "" {
			w.pendingOn++
		}
	}
	if f.Start != nil {
		w.Start = f.Start.UTC()
	}
	w.FleetName = cmp.Or(opts.Fleet, DefaultFleet)
	fb := opts.Backend
	if fb.Open == nil {
		var err error
		if fb, err = backend.Lookup(w.FleetName); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
	}
	if err := w.openFleet(ctx, fb, f, opts); err != nil {
		return nil, err
	}
	if err := w.preflight(f); err != nil {
		return nil, err
	}
	if inv, ok := w.Fleet.(backend.Inventory); ok {
		var err error
		if w.foreignAt0, err = inv.Foreign(ctx); err != nil {
			return nil, fmt.Errorf("list what the run did not create (I-7): %w", err)
		}
	}
	w.ctl = newControlPlane(w)
	w.Store = orchestrator.NewMemoryStore()
	w.reimages = newReimageLog(w.Clock, f.ScaleSets)
	w.orchOpts = orchestrator.Options{Clock: w.Clock, Fleet: &Interceptor{Fleet: w.Fleet, Funcs: InterceptFuncs{Observe: w.ctl.observe, Reimage: w.reimages.wrap(w.ctl.reimage), Changed: w.ctl.changed}}, Store: journalStore{w.Store, w.reimages}, Seed: w.Seed, ReimageConcurrency: w.concurrency, Planner: opts.bugs.Options()}
	o, err := orchestrator.New(ctx, w.orchOpts)
	if err != nil {
		return nil, err
	}
	w.Orch = o
	o.Subscribe(w.onEvent)
	if err := w.attachMetrics(o); err != nil {
		return nil, err
	}

	var regions []string
	for i := range f.ScaleSets {
		regions = append(regions, or(f.ScaleSets[i].Region, DefaultRegion))
	}
	slices.Sort(regions)
	regions = slices.Compact(regions)
	for _, img := range f.Images {
		v, err := imageVersionOf(img, w.Start, regions)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		w.images = append(w.images, v)
		if img.Bad != "" {
			w.Fleet.SetBadVersion(v.Version, fault.BadKind(img.Bad))
		}
	}
	for i := range f.ScaleSets {
		s := &f.ScaleSets[i]
		m, err := ModelOf(s, w.Start)
		if err != nil {
			return nil, fmt.Errorf("%w: scaleSets[%d]: %v", ErrBadInput, i, err)
		}
		if err := w.Orch.CreateScaleSet(ctx, m, s.RunningVersion); err != nil {
			var ve *orchestrator.ValidationError
			if errors.As(err, &ve) && w.expectFor(s).Status == "Rejected" {
				w.rejected[s.Name] = err
				continue
			}
			if errors.As(err, &ve) {
				return nil, fmt.Errorf("%w: scaleSets[%d] (%s): %v", ErrBadInput, i, s.Name, err)
			}
			return nil, err
		}
		if w.journal != nil {
			w.journal.AddSet(m, s.RunningVersion)
		}
		running := orchestrator.ImageVersion{Ref: m.Image.Ref(), Version: s.RunningVersion, PublishedAt: w.Start}
		if m.Image.IsGallery() {
			running.Regions = []string{m.Region}
		}
		if _, known := w.Orch.Catalog().Find(running.Ref, running.Version); !known {
			if err := w.Orch.Publish(running); err != nil {
				return nil, fmt.Errorf("%w: scaleSets[%d].runningVersion: %v", ErrBadInput, i, err)
			}
		}
		d, err := w.Fleet.DataDigests(ctx, s.Name)
		if err != nil {
			return nil, fmt.Errorf("read data disks of %s: %w", s.Name, err)
		}
		w.dataAt0[s.Name] = d
	}
	if w.scaled != nil {
		// Build the published versions' OS images now, before the clock
		// runs: built at the first reimage, the build would count against
		// that batch's 5-minute wait (15 s wall at time scale 20), and with
		// scenarios running at once (run --parallel) it took longer.
		if p, ok := w.Fleet.(backend.ImagePreparer); ok {
			for _, v := range w.images {
				if err := p.PrepareImage(ctx, plan.Image{Ref: v.Ref, Version: v.Version}); err != nil {
					return nil, err
				}
			}
		}
		// At time 0 every instance runs its version, booted: wait for the
		// containers to get there. Building them is not scenario time.
		if err := w.waitBooted(ctx, 3*time.Minute); err != nil {
			return nil, err
		}
		w.scaled.Release()
	}
	return w, nil
}

// openFleet opens the world's fleet from fb on the clock it runs on, with
// its journal: what the fleet records of itself (backend.Recorder) or
// reports from outside (backend.Watcher).
func (w *World) openFleet(ctx context.Context, fb backend.Factory, f *scenario.File, opts Options) error {
	w.concurrency = 1
	if fb.ReimageConcurrency != nil {
		w.concurrency = fb.ReimageConcurrency()
	}
	w.kernelNetwork = fb.KernelNetwork
	slack := cmp.Or(opts.JournalSlack, fb.JournalSlack)
	cfg := backend.Config{RunID: runID(opts.RunPrefix, f.Name), Seed: w.Seed}
	switch fb.Clock {
	case backend.VirtualClock:
		w.virtual = clock.NewVirtual(w.Start)
		w.Clock, cfg.Clock = w.virtual, w.virtual
	case backend.WallClock:
		scale := opts.TimeScale
		if scale <= 0 {
			scale = 60
		}
		w.scaled = clock.NewScaled(w.Start, scale)
		w.scaled.Hold()                                            // until every instance is up: building them is not scenario time
		w.settle = time.Duration(2 * scale * float64(time.Second)) // two wall seconds
		w.Clock, cfg.Clock, cfg.TimeScale = w.scaled, w.scaled, scale
		cfg.Progress = cmp.Or(opts.Progress, opts.Printer.Writer())
	default:
		return fmt.Errorf("the %s fleet runs on an unknown clock (%v)", w.FleetName, fb.Clock)
	}
	fl, err := fb.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s fleet: %w", w.FleetName, err)
	}
	w.Fleet = fl
	w.closers = append(w.closers, func(ctx context.Context) error {
		var errs []error
		if c, ok := fl.(backend.Cleaner); ok {
			errs = append(errs, c.Clean(ctx))
		}
		return errors.Join(append(errs, fl.Close())...)
	})
	if opts.bugs.Has(plantedbugs.RecreateDataVolume) {
		b, ok := fl.(backend.DataResetBug)
		if !ok {
			return fmt.Errorf("%w: the %s fleet cannot plant the data-disk bug", fault.ErrUnsupported, w.FleetName)
		}
		b.ResetDataOnReimage(true)
	}
	if _, ok := fl.(backend.Watcher); ok {
		return w.watchFleet(ctx, slack)
	}
	if r, ok := fl.(backend.Recorder); ok {
		w.journal = NewJournal(slack)
		r.Record(worldJournal{w})
	}
	return nil // no journal: every invariant reports "not checked" and fails
}

// worldJournal is the world's journal as a Recorder's backend.Journal;
// the recorder calls it synchronously, from inside the fleet's calls.
type worldJournal struct{ w *World }

func (j worldJournal) Reimaged(at time.Time, set string, id int, version string) {
	j.w.journal.Reimage(at, set, id, version)
}

func (j worldJournal) Reported(at time.Time, set string, in plan.Instance) {
	j.w.journal.State(at, set, in)
}

// maxRunName bounds the scenario part of a run id: with a prefix and a
// random suffix it stays within a backend's 64 characters.
const maxRunName = 32

// runID names a run's fleet resources: prefix, the scenario's name (cut to
// maxRunName) and a random suffix, so that runs never collide.
func runID(prefix, name string) string {
	if len(name) > maxRunName {
		name = strings.TrimRight(name[:maxRunName], "-")
	}
	suffix := make([]byte, 3)
	_, _ = cryptorand.Read(suffix) // never fails (crypto/rand's contract since Go 1.24)
	return prefix + name + "-" + hex.EncodeToString(suffix)
}

// waitBooted polls a real fleet until every instance of every set runs
// with its provisioning settled, or the wall-time limit passes.
func (w *World) waitBooted(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		pending := 0
		for _, name := range w.Orch.ScaleSets() {
			obs, err := w.Fleet.Observe(ctx, name)
			if err != nil {
				return fmt.Errorf("observe %s: %w", name, err)
			}
			for i := range obs {
				if !obs[i].Running || obs[i].Provisioning == plan.ProvisioningUpdating {
					pending++
				}
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d instances still booting %s after the fleet was created", pending, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Close releases the fleet.
func (w *World) Close(ctx context.Context) error {
	var errs []error
	for _, c := range w.closers {
		errs = append(errs, c(ctx))
	}
	return errors.Join(errs...)
}

// expectFor is the scenario's expectations with the set's own over them
// (the set at hand, not looked up by name: a fleet has 10,000 of them).
func (w *World) expectFor(s *scenario.ScaleSet) scenario.Expect {
	var x scenario.Expect
	if w.Scenario.Expect != nil {
		x = *w.Scenario.Expect
	}
	if s.Expect != nil {
		x = mergeExpect(x, *s.Expect)
	}
	return x
}

// rng is a random stream of the scenario seed owned by one purpose.
func (w *World) rng(purpose, set string, index int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d", purpose, set, index)
	return rand.New(rand.NewPCG(w.Seed, h.Sum64()))
}

// onEvent runs inside Orchestrator.Step: it keeps the rollout events and
// marks `on:` entries whose event happened.
func (w *World) onEvent(e orchestrator.SetEvent) {
	if e.Kind != plan.EventInstanceReimaged {
		w.events = append(w.events, e)
		w.printer.Event("%s (%s) %s: %s at %s", w.Scenario.Name, w.FleetName, e.Set, e.Event, e.Time.Sub(w.Start))
	}
	if e.Kind == plan.EventRolloutStarted && w.journal != nil {
		unlock := w.lockJournal()
		if w.userStarted[e.Set] {
			delete(w.userStarted, e.Set)
			w.journal.BeginUserRollout(e.Set, e.Time)
		} else {
			w.journal.BeginRollout(e.Set, e.Time)
		}
		unlock()
	}
	if w.pendingOn == 0 {
		return
	}
	name := e.Event.String()
	for i := range w.Scenario.Timeline {
		t := &w.Scenario.Timeline[i]
		if w.fired[i] || t.On == "" || t.On != name || !t.Targets(e.Set) {
			continue
		}
		w.fired[i] = true
		w.pendingOn--
		w.dueOn = append(w.dueOn, firedOn{entry: i, set: e.Set})
	}
}

// apply carries out one timeline entry on its scale sets.
func (w *World) apply(ctx context.Context, idx int, eventSet string) error {
	e := &w.Scenario.Timeline[idx]
	sets := w.targets(e, eventSet)
	now := w.Clock.Now()
	for _, set := range sets {
		var err error
		switch {
		case e.Fault != "":
			f := registry[e.Fault]
			var stop func(context.Context) error
			t := Target{Set: set, IDs: w.selectIDs(set, e, idx), Entry: e}
			var began time.Time
			if w.wall != nil {
				began = w.wall()
			}
			stop, err = f.Apply(ctx, w, t)
			w.faultChanged = w.Clock.Now()
			if w.wall != nil {
				took := w.wall().Sub(began).Round(time.Microsecond)
				w.faultTimings = append(w.faultTimings, FaultTiming{Fault: e.Fault, Entry: idx, Instances: len(t.IDs), Wall: took.String()})
			}
			if err == nil && stop != nil && e.Duration.Duration > 0 {
				w.undos = append(w.undos, undo{at: now.Add(e.Duration.Duration), desc: fmt.Sprintf("end of %s (timeline[%d])", e.Fault, idx), fn: stop})
			}
		case e.Trigger == "manual":
			if err = w.Orch.StartOSUpgrade(ctx, set); err == nil {
				if w.userStarted == nil {
					w.userStarted = map[string]bool{}
				}
				w.userStarted[set] = true
			}
		case e.Trigger == "cancel":
			err = w.Orch.Cancel(ctx, set)
		case e.RenewSas != "":
			err = w.setSASExpiry(ctx, set, e.RenewSas, w.Start.Add(e.ExpiresAt.Duration))
		case e.ManualUpgrade != nil:
			m, _ := w.Orch.ScaleSet(set)
			ids := e.ManualUpgrade.IDs
			if e.ManualUpgrade.All {
				ids = make([]int, m.Capacity)
				for i := range ids {
					ids[i] = i
				}
			}
			err = w.Orch.ManualUpgrade(ctx, set, ids)
		}
		if err != nil {
			return fmt.Errorf("timeline[%d] (line %d) on %s: %w", idx, e.Line, set, err)
		}
	}
	return nil
}

// targets are the live scale sets an entry acts on: the set whose event
// fired an `on:` entry (one of its scaleSet's), else its scaleSet (a set,
// or every set of a count: entry), else every set.
func (w *World) targets(e *scenario.Entry, eventSet string) []string {
	switch {
	case eventSet != "":
		return []string{eventSet}
	case e.ScaleSet != "":
		return w.live(e.TargetSets())
	}
	var all []string
	for _, s := range w.Scenario.ScaleSets {
		all = append(all, s.Name)
	}
	return w.live(all)
}

func (w *World) live(names []string) []string {
	var out []string
	for _, n := range names {
		if _, rejected := w.rejected[n]; !rejected {
			out = append(out, n)
		}
	}
	return out
}

// Run drives the world until the scenario is over: every timeline entry
// fired, every fault ended, no rollout in progress and none pending, and
// the fleet settled (nothing reimaging, booting or in its health grace
// period: a manual upgrade is carried out by the fleet after the
// orchestrator is done with it), or `until` passed. A fleet that does not
// settle within SettleLimit ends the run with a problem naming what is in
// flight.
func (w *World) Run(ctx context.Context, opts Options) error {
	until := DefaultUntil
	if w.Scenario.Until != nil {
		until = w.Scenario.Until.Duration
	}
	end := w.Start.Add(until)
	poll := opts.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	type atEntry struct {
		at  time.Time
		idx int
	}
	var ats []atEntry
	for i, e := range w.Scenario.Timeline {
		if e.At != nil {
			ats = append(ats, atEntry{w.Start.Add(e.At.Duration), i})
		}
	}
	sort.SliceStable(ats, func(i, j int) bool { return ats[i].at.Before(ats[j].at) })
	pubs := slices.Clone(w.images)
	sort.SliceStable(pubs, func(i, j int) bool { return pubs[i].PublishedAt.Before(pubs[j].PublishedAt) })
	nextEvent, _ := w.Fleet.(backend.Scheduled)
	if opts.observeOnly {
		nextEvent = nil
	}
	// settleSince is when the run's own work ended and the wait for the
	// fleet to settle began; zero while work is due.
	var settleSince time.Time

	const maxIterations = 50_000_000
	for iter := 0; ; iter++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if iter == maxIterations {
			return fmt.Errorf("the run made no progress after %d steps at %s", iter, w.Clock.Now().Format(time.RFC3339))
		}
		now := w.Clock.Now()
		for len(pubs) > 0 && !pubs[0].PublishedAt.After(now) {
			if err := w.Orch.Publish(pubs[0]); err != nil {
				return fmt.Errorf("%w: publish %s: %v", ErrBadInput, pubs[0].Version, err)
			}
			pubs = pubs[1:]
		}
		sort.SliceStable(w.undos, func(i, j int) bool { return w.undos[i].at.Before(w.undos[j].at) })
		for len(w.undos) > 0 && !w.undos[0].at.After(now) {
			u := w.undos[0]
			w.undos = w.undos[1:]
			if err := u.fn(ctx); err != nil {
				return fmt.Errorf("%s: %w", u.desc, err)
			}
			w.faultChanged = w.Clock.Now()
		}
		for len(ats) > 0 && !ats[0].at.After(now) {
			w.fired[ats[0].idx] = true
			if err := w.apply(ctx, ats[0].idx, ""); err != nil {
				return err
			}
			ats = ats[1:]
		}
		var wake time.Time
		w.ctl.observeTook = 0
		for round := 0; ; round++ {
			if w.journal != nil {
				unlock := w.lockJournal()
				w.journal.StepBegins()
				unlock()
			}
			next, err := w.Orch.Step(ctx)
			if w.ctl.killed {
				if err := w.restartOrchestrator(ctx, w.ctl.snap); err != nil {
					return err
				}
				next, err = now, nil
			}
			if err != nil {
				w.problem(fmt.Sprintf("%s: %v", now.Format(time.RFC3339), err))
				if w.virtual != nil && !errors.Is(err, ErrInjected) {
					return err // the simulator does not fail transiently
				}
				next = now.Add(poll)
			}
			wake = next
			if len(w.dueOn) == 0 || round > 100 {
				break
			}
			due := w.dueOn
			w.dueOn = nil
			for _, d := range due {
				if err := w.apply(ctx, d.entry, d.set); err != nil {
					return err
				}
			}
		}

		// When is something next due?
		var next time.Time
		consider := func(t time.Time) {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		consider(wake)
		if len(ats) > 0 {
			consider(ats[0].at)
		}
		if len(pubs) > 0 {
			consider(pubs[0].PublishedAt)
		}
		for _, u := range w.undos {
			consider(u.at)
		}
		if nextEvent != nil {
			if t, ok := nextEvent.NextEvent(); ok {
				consider(t)
			}
		} else if w.Orch.InFlight() {
			consider(w.nextPoll(now, poll))
		}
		if next.IsZero() {
			pending, err := w.unsettled(ctx, nextEvent == nil)
			if err != nil {
				return err
			}
			if len(pending) == 0 {
				return nil
			}
			if settleSince.IsZero() {
				settleSince = now
			}
			if now.Sub(settleSince) >= SettleLimit {
				w.problem(fmt.Sprintf("the fleet did not settle within %s after the run's work ended: %s", SettleLimit, describeUnsettled(pending)))
				return nil
			}
			next = now.Add(poll)
		} else {
			settleSince = time.Time{}
		}
		if !next.After(now) {
			next = now
			if iter > 0 && w.virtual != nil && len(w.dueOn) == 0 {
				// Something keeps asking for now; move on by the smallest step.
				next = now.Add(time.Nanosecond)
			}
		}
		if next.After(end) {
			if w.virtual != nil {
				w.virtual.Set(end)
			}
			w.problem(fmt.Sprintf("the scenario reached until (%s) with work pending", scenario.FormatDuration(until)))
			return nil
		}
		if err := w.waitUntil(ctx, next); err != nil {
			return err
		}
	}
}

// nextPoll is when a fleet without event notification is observed next:
// poll after now, and no sooner after the step ended than the step's
// observations took. On a real clock, observing a large fleet on a
// saturated machine can take longer than poll; observing back to back then
// kept every agent answering status calls, and slowed the reimages being
// waited for. Observations take at most half the time so.
func (w *World) nextPoll(now time.Time, poll time.Duration) time.Time {
	next := now.Add(poll)
	if w.virtual != nil {
		return next
	}
	if t := w.Clock.Now().Add(w.ctl.observeTook); t.After(next) {
		return t
	}
	return next
}

func (w *World) problem(s string) {
	if len(w.problems) < 20 {
		w.problems = append(w.problems, s)
	}
}

func (w *World) waitUntil(ctx context.Context, t time.Time) error {
	if w.virtual != nil {
		w.virtual.Set(t)
		return nil
	}
	d := t.Sub(w.Clock.Now())
	if d <= 0 {
		return nil
	}
	if !w.Orch.InFlight() && d > w.settle {
		// No rollout runs or is about to: skip the idle scenario time (the
		// hours before a platform rollout, the rest of a fault window),
		// leaving the fleet a moment to settle before what is due.
		w.scaled.Skip(d - w.settle)
		d = w.settle
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.Clock.After(d):
		return nil
	}
}

// unfired lists the timeline entries that never fired.
func (w *World) unfired() []string {
	var out []string
	for i, e := range w.Scenario.Timeline {
		if !w.fired[i] {
			when := e.On
			if e.At != nil {
				when = "at " + scenario.FormatDuration(e.At.Duration)
			}
			out = append(out, fmt.Sprintf("timeline[%d] (line %d, %s)", i, e.Line, strings.TrimSpace(when)))
		}
	}
	return out
}

func asValidation(err error, target **orchestrator.ValidationError) bool {
	return errors.As(err, target)
}
