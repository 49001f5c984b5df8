package harness

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/internal/netfault"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// FinalSet is what the fleet shows of one scale set when a run ends, in a
// form two runs of one scenario on two fleets can be compared by
// (CompareFinal): no times, nothing the orchestrator says of itself. The
// instances are the fleet's own report (Observe) and data disks; the
// batches are the reimages the fleet accepted, as the harness saw them
// cross into the fleet.
type FinalSet struct {
	Name      string          `json:"name"`
	Instances []FinalInstance `json:"instances"`
	// InstancesOmitted counts instances past MaxListedInstances; their
	// reimages are not kept either (Batches is empty then).
	InstancesOmitted int          `json:"instancesOmitted,omitempty"`
	Batches          []FleetBatch `json:"batches"`
}

// FinalInstance is one instance at the end, as the fleet reports it.
// RolledBack: the fleet reimaged it back to the version it ran before its
// latest upgrade.
type FinalInstance struct {
	ID                int    `json:"id"`
	Version           string `json:"version"`
	Health            string `json:"health"`
	ProvisioningState string `json:"provisioningState"`
	RolledBack        bool   `json:"rolledBack"`
	DataIntact        bool   `json:"dataIntact"`
}

// FleetBatch is a group of reimages the fleet accepted, of one Kind:
//   - upgrade: the instances one orchestrator decision (between two of
//     its journal entries) reimaged to a new version (a rollout's batch);
//   - rollback: the instances of one upgrade batch reimaged back to the
//     version they ran before it, in however many steps (the orchestrator
//     rolls each back when it learns that it failed: on Docker boots end
//     at different moments, on the sim at one);
//   - same-version: the instances one decision reimaged to the version they
//     run (a manual upgrade: the latest model, R-CRED-1).
//
// Instances are sorted; a group stands where its first reimage was.
type FleetBatch struct {
	Kind      string `json:"kind"`
	Version   string `json:"version"`
	Instances []int  `json:"instances"`
}

// FleetBatch kinds.
const (
	BatchUpgrade     = "upgrade"
	BatchRollback    = "rollback"
	BatchSameVersion = "same-version"
)

// SettleLimit bounds how long a run waits, once its timeline and rollouts
// are done, for the fleet to settle: no reimage, boot or health grace
// period left in flight. Six times the rollout's own 5-minute health wait:
// an instance still booting after that never will (a crashing image), and
// the run ends with a problem saying which.
const SettleLimit = 6 * plan.HealthTimeout

// reimageLog records every reimage the fleet accepted (a call that
// returned without error), with the orchestrator decision that made it
// (decided). It is
// safe for concurrent use: the orchestrator reimages in parallel on Docker.
type reimageLog struct {
	mu sync.Mutex
	// decision counts the orchestrator's decisions (decided), but not while
	// it is dead (orchestratorDead).
	decision uint64
	dead     bool
	// entries by set index: history reads one set's (over 1,000 sets
	// sharing one list, history was a third of a run's CPU time).
	entries [][]fleetReimage
	// capacity of each set: larger than MaxListedInstances, its reimages
	// are not kept (only the time of the latest).
	capacity map[string]int
	latest   map[string]time.Time
	clock    interface{ Now() time.Time }
	// Entries name sets and versions by index: 16 bytes a reimage, where
	// two strings made it 48 (a tenth of a 10^4-instance run's bytes).
	setIdx   map[string]uint16
	versions []string
	verIdx   map[string]uint16
}

type fleetReimage struct {
	decision uint64
	id       int32
	version  uint16
}

func newReimageLog(clk interface{ Now() time.Time }, sets []scenario.ScaleSet) *reimageLog {
	l := &reimageLog{capacity: map[string]int{}, latest: map[string]time.Time{}, clock: clk, setIdx: map[string]uint16{}, verIdx: map[string]uint16{}}
	for _, s := range sets {
		l.capacity[s.Name] = s.Instances
		if _, ok := l.setIdx[s.Name]; !ok && len(l.setIdx) < math.MaxUint16 {
			l.setIdx[s.Name] = uint16(len(l.setIdx))
			l.entries = append(l.entries, nil)
		}
	}
	return l
}

// decided marks a decision of the orchestrator: a journal entry, which the
// orchestrator writes before the reimages it decides (write-ahead). The
// reimages after it, until the next, are that decision's: one batch, even
// when a restart came between them (the restarted orchestrator finishes
// the journaled decision without a new entry: on Docker, with reimages in
// parallel, one of a batch's two can be made before the kill and the
// other after it), and two batches when one step decided twice (on the
// real clock a single-instance batch can be healthy by the step's next
// pass: Docker's [1 4] was the sim's [1], [4]).
func (l *reimageLog) decided() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dead {
		l.decision++
	}
}

// orchestratorDead says whether the orchestrator was killed (and not yet
// restarted): what a dead one journals never happened, since the restart
// resumes from the store as it was at the kill. (Its note that the killed
// reimage failed split the batch it was in.)
func (l *reimageLog) orchestratorDead(dead bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dead = dead
}

// wrap records the reimages that next (the control plane's hook) passed to
// the fleet and the fleet accepted.
func (l *reimageLog) wrap(next func(ctx context.Context, f Backend, set string, id int, image plan.Image) error) func(ctx context.Context, f Backend, set string, id int, image plan.Image) error {
	return func(ctx context.Context, f Backend, set string, id int, image plan.Image) error {
		if err := next(ctx, f, set, id, image); err != nil {
			return err
		}
		now := l.clock.Now()
		l.mu.Lock()
		defer l.mu.Unlock()
		l.latest[set] = now
		si, known := l.setIdx[set]
		if v, ok := l.verIdx[image.Version]; known && l.capacity[set] <= MaxListedInstances && (ok || len(l.versions) < math.MaxUint16) {
			if !ok {
				v = uint16(len(l.versions))
				l.verIdx[image.Version] = v
				l.versions = append(l.versions, image.Version)
			}
			l.entries[si] = append(l.entries[si], fleetReimage{decision: l.decision, id: int32(id), version: v})
		}
		return nil
	}
}

// lastReimage is when the fleet last accepted a reimage of set.
func (l *reimageLog) lastReimage(set string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.latest[set]
	return t, ok
}

// history returns the set's reimage batches (FleetBatch) and, by
// instance, whether it was rolled back: reimaged to the version it ran
// before its latest upgrade.
func (l *reimageLog) history(set, initial string) ([]FleetBatch, map[int]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	type key struct {
		kind    string
		group   uint64 // upgrade, same-version: the decision; rollback: the upgrade batch's index
		version uint16
	}
	var batches []FleetBatch
	at := map[key]int{}
	// versions of an instance, by version index; -1: the initial version
	// (which no entry may name yet).
	type versions struct {
		cur, prev int32
		upgraded  bool
		batch     int32 // of the latest upgrade
	}
	const initialIdx = -1
	// The initial version as an index, when an entry names it.
	initialAs := int32(initialIdx)
	if v, ok := l.verIdx[initial]; ok {
		initialAs = int32(v)
	}
	si, known := l.setIdx[set]
	rolledBack := map[int]bool{}
	if !known {
		return batches, rolledBack
	}
	// One slot per instance (MaxListedInstances bounds the sets logged).
	inst := make([]versions, l.capacity[set])
	seen := make([]bool, l.capacity[set])
	for _, e := range l.entries[si] {
		if e.id < 0 {
			continue
		}
		if n := int(e.id) + 1; n > len(inst) {
			inst, seen = slices.Grow(inst, n-len(inst))[:n], slices.Grow(seen, n-len(seen))[:n]
		}
		v := &inst[e.id]
		if !seen[e.id] {
			seen[e.id] = true
			*v = versions{cur: initialAs, prev: initialIdx}
		}
		ver := int32(e.version)
		var k key
		switch {
		case ver == v.cur:
			k = key{BatchSameVersion, e.decision, e.version}
		case v.upgraded && ver == v.prev:
			k = key{BatchRollback, uint64(v.batch), e.version}
			rolledBack[int(e.id)] = true
			v.cur, v.upgraded = ver, false
		default:
			k = key{BatchUpgrade, e.decision, e.version}
			v.prev, v.cur, v.upgraded = v.cur, ver, true
		}
		i, ok := at[k]
		if !ok {
			i = len(batches)
			at[k] = i
			batches = append(batches, FleetBatch{Kind: k.kind, Version: l.versions[e.version]})
		}
		if k.kind == BatchUpgrade {
			v.batch = int32(i)
		}
		batches[i].Instances = append(batches[i].Instances, int(e.id))
	}
	for i := range batches {
		slices.Sort(batches[i].Instances)
	}
	return batches, rolledBack
}

// unsettled lists what is still in flight on the fleet: instances whose
// provisioning is Updating (a reimage or boot) or whose health is
// Initializing (the grace period), and sets whose latest reimage is more
// recent than the model's boot time and grace period (a probe reads
// Unhealthy until then, which looks final). Empty: settled.
//
// A real fleet (real: it does not say when it changes) also shows a fault's
// end only when its health probes next run: after a fault was applied or
// ended it gets the probes' period (interval × (probes + 1)) and the
// moment the world leaves a real fleet before what is due (World.settle).
// On Docker a run ended 20 s after a maintenance window with two instances
// still Unhealthy that the simulator showed Healthy.
func (w *World) unsettled(ctx context.Context, real bool) ([]string, error) {
	var out []string
	now := w.Clock.Now()
	for _, name := range w.Orch.ScaleSets() {
		obs, err := w.Fleet.Observe(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("observe %s: %w", name, err)
		}
		for i := range obs {
			in := &obs[i]
			if in.Provisioning == plan.ProvisioningUpdating || in.Health == plan.HealthInitializing {
				out = append(out, fmt.Sprintf("%s/%d %s %s %s", name, in.ID, in.Version, in.Provisioning, in.Health))
			}
		}
		m, ok := w.Orch.ScaleSet(name)
		if !ok {
			continue
		}
		if t, ok := w.reimages.lastReimage(name); ok {
			if quiet := m.BootTime + m.AppHealth.Grace(); now.Sub(t) < quiet {
				out = append(out, fmt.Sprintf("%s: last reimage %s ago, boot and grace period take %s", name, now.Sub(t), quiet))
			}
		}
		if real && !w.faultChanged.IsZero() {
			if quiet := m.AppHealth.Interval()*time.Duration(m.AppHealth.Probes()+1) + w.settle; now.Sub(w.faultChanged) < quiet {
				out = append(out, fmt.Sprintf("%s: a fault changed %s ago, its health probes see it within %s", name, now.Sub(w.faultChanged), quiet))
			}
		}
	}
	return out, nil
}

// describeUnsettled names the first few unsettled items and counts the rest.
func describeUnsettled(items []string) string {
	const shown = 5
	if len(items) <= shown {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:shown], ", "), len(items)-shown)
}

// MaxMismatches is how many differences CompareFinal lists.
const MaxMismatches = 20

// CompareFinal lists how two runs' final states differ, naming the fleet
// of each side (nameA, nameB); empty: identical. Times are not compared:
// the fleets' clocks differ by design.
func CompareFinal(nameA string, a []FinalSet, nameB string, b []FinalSet) []string {
	var out []string
	more := 0
	add := func(format string, args ...any) {
		if len(out) == MaxMismatches {
			more++
			return
		}
		out = append(out, fmt.Sprintf(format, args...))
	}
	bySet := map[string]*FinalSet{}
	for i := range b {
		bySet[b[i].Name] = &b[i]
	}
	seen := map[string]bool{}
	for i := range a {
		sa := &a[i]
		seen[sa.Name] = true
		sb, ok := bySet[sa.Name]
		if !ok {
			add("scale set %s: on %s, not on %s", sa.Name, nameA, nameB)
			continue
		}
		compareSet(sa, sb, nameA, nameB, add)
	}
	for i := range b {
		if !seen[b[i].Name] {
			add("scale set %s: on %s, not on %s", b[i].Name, nameB, nameA)
		}
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("and %d more differences", more))
	}
	return out
}

func compareSet(a, b *FinalSet, nameA, nameB string, add func(string, ...any)) {
	set := a.Name
	if len(a.Instances) != len(b.Instances) || a.InstancesOmitted != b.InstancesOmitted {
		add("%s: %d instances (%d omitted) on %s, %d (%d omitted) on %s", set, len(a.Instances), a.InstancesOmitted, nameA, len(b.Instances), b.InstancesOmitted, nameB)
	}
	for i := range min(len(a.Instances), len(b.Instances)) {
		ia, ib := a.Instances[i], b.Instances[i]
		if ia == ib {
			continue
		}
		var diffs []string
		field := func(name string, va, vb any) {
			if va != vb {
				diffs = append(diffs, fmt.Sprintf("%s %v on %s, %v on %s", name, va, nameA, vb, nameB))
			}
		}
		field("id", ia.ID, ib.ID)
		field("version", ia.Version, ib.Version)
		field("health", ia.Health, ib.Health)
		field("provisioningState", ia.ProvisioningState, ib.ProvisioningState)
		field("rolledBack", ia.RolledBack, ib.RolledBack)
		field("dataIntact", ia.DataIntact, ib.DataIntact)
		add("%s instance %d: %s", set, ia.ID, strings.Join(diffs, "; "))
	}
	if len(a.Batches) != len(b.Batches) {
		add("%s: %d reimage batches on %s (%s), %d on %s (%s)", set, len(a.Batches), nameA, formatBatches(a.Batches), len(b.Batches), nameB, formatBatches(b.Batches))
		return
	}
	for k := range a.Batches {
		ba, bb := a.Batches[k], b.Batches[k]
		if ba.Kind != bb.Kind || ba.Version != bb.Version || !slices.Equal(ba.Instances, bb.Instances) {
			add("%s reimage batch %d: %s %v to %s on %s, %s %v to %s on %s", set, k+1, ba.Kind, ba.Instances, ba.Version, nameA, bb.Kind, bb.Instances, bb.Version, nameB)
		}
	}
}

// CompareCounts is CompareFinal for a scenario whose fleets may rightly
// pick different instances (`compare: counts`): per set, how many instances
// end in each state (version, health, provisioning, rolled back, data
// intact) and each reimage batch's kind, version and size must agree.
func CompareCounts(nameA string, a []FinalSet, nameB string, b []FinalSet) []string {
	return CompareFinal(nameA, countsOf(a), nameB, countsOf(b))
}

// countsOf forgets which instance is which: instances sorted by state and
// numbered anew, each batch's instances renumbered 0..size-1.
func countsOf(sets []FinalSet) []FinalSet {
	out := make([]FinalSet, len(sets))
	for i, s := range sets {
		c := FinalSet{Name: s.Name, InstancesOmitted: s.InstancesOmitted, Instances: slices.Clone(s.Instances)}
		slices.SortFunc(c.Instances, func(x, y FinalInstance) int {
			x.ID, y.ID = 0, 0
			return strings.Compare(fmt.Sprint(x), fmt.Sprint(y))
		})
		for k := range c.Instances {
			c.Instances[k].ID = k
		}
		for _, b := range s.Batches {
			ids := make([]int, len(b.Instances))
			for k := range ids {
				ids[k] = k
			}
			c.Batches = append(c.Batches, FleetBatch{Kind: b.Kind, Version: b.Version, Instances: ids})
		}
		out[i] = c
	}
	return out
}

func formatBatches(bs []FleetBatch) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("%s %v→%s", b.Kind, b.Instances, b.Version)
	}
	return strings.Join(parts, " ")
}

// Fits says whether a scenario runs on the named backend, for `run --fleet
// auto` and `both`: nil, or why not. Not when its `fleets:` leaves the
// backend out, when its scale sets hold more instances together than the
// backend takes (Factory.MaxInstances), or when this machine cannot run it
// honestly there (CheckFleet: latency without netem).
func Fits(f *scenario.File, fleet string) error {
	fb, err := backend.Lookup(fleet)
	if err != nil {
		return err
	}
	n := 0
	for _, s := range f.ScaleSets {
		n += s.Instances
	}
	if fb.MaxInstances > 0 && n > fb.MaxInstances {
		return fmt.Errorf("%d instances: the %s fleet takes at most %d", n, fleet, fb.MaxInstances)
	}
	if len(f.Fleets) > 0 && !slices.Contains(f.Fleets, fleet) {
		return fmt.Errorf("its expectations are written for %s", strings.Join(f.Fleets, ", "))
	}
	return checkNetwork(f, fb.KernelNetwork)
}

// FitsAll says whether a scenario runs on every one of the named backends
// and their final states are compared (`run --fleet both`): nil, or the
// first reason why not. A scenario whose author says one fleet cannot
// judge it is not compared.
func FitsAll(f *scenario.File, fleets ...string) error {
	for _, fl := range fleets {
		if err := Fits(f, fl); err != nil {
			return err
		}
	}
	return nil
}

// CheckFleet says whether this machine can run a scenario honestly on the
// named backend; an error names what is missing and the alternative.
func CheckFleet(f *scenario.File, fleet string) error {
	fb, err := backend.Lookup(fleet)
	if err != nil {
		return err
	}
	return checkNetwork(f, fb.KernelNetwork)
}

// preflight refuses, before anything is built, a scenario this machine
// cannot run honestly on the world's fleet.
func (w *World) preflight(f *scenario.File) error { return checkNetwork(f, w.kernelNetwork) }

// checkNetwork: on a fleet whose network faults act on a kernel link
// (Factory.KernelNetwork), latency needs sch_netem, unless it is shaped
// with TBF.
func checkNetwork(f *scenario.File, kernelNetwork bool) error {
	if !kernelNetwork {
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

// Compare runs a scenario on two fleets, one after the other, and compares
// what each fleet shows at the end (CompareFinal, or CompareCounts for a
// scenario with `compare: counts`). The differences are the
// second result's Mismatches, and make it fail (OK false); ComparedWith
// names the first fleet. An error is one either run returned.
func Compare(ctx context.Context, f *scenario.File, first, second Options) (a, b *Result, err error) {
	if a, err = Run(ctx, f, first); err != nil {
		return nil, nil, fmt.Errorf("on %s: %w", fleetName(first), err)
	}
	if b, err = Run(ctx, f, second); err != nil {
		return a, nil, fmt.Errorf("on %s: %w", fleetName(second), err)
	}
	nameA, nameB := a.Fleet, b.Fleet
	if nameA == nameB {
		nameA, nameB = nameA+" (first run)", nameB+" (second run)"
	}
	b.ComparedWith = a.Fleet
	if f.Compare == "counts" {
		b.Mismatches = CompareCounts(nameA, a.FinalState, nameB, b.FinalState)
	} else {
		b.Mismatches = CompareFinal(nameA, a.FinalState, nameB, b.FinalState)
	}
	if a.Error != "" || b.Error != "" {
		// A run that failed ended where it failed: its state says nothing.
		b.Mismatches = append(b.Mismatches, fmt.Sprintf("not comparable: a run ended with an error (%s: %q, %s: %q)", nameA, a.Error, nameB, b.Error))
	}
	if len(b.Mismatches) > 0 {
		b.OK = false
	}
	return a, b, nil
}

func fleetName(o Options) string { return cmp.Or(o.Fleet, DefaultFleet) }
