package sim

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// SnapshotFormat is the version of Snapshot and SetSnapshot: a reader
// refuses a format it does not know rather than guess at its fields.
const SnapshotFormat = 1

// ErrSnapshotFormat is returned for a snapshot of an unknown format.
var ErrSnapshotFormat = errors.New("sim: unknown snapshot format")

// Snapshot is everything the fleet knows, as JSON: restored into a new fleet
// it behaves, from the snapshot's time on, exactly as the fleet it was taken
// from. Only the event recorder (OnEvent) is not part of it.
type Snapshot struct {
	Format int       `json:"format"`
	Time   time.Time `json:"time"` // the clock's time when taken
	Seed   uint64    `json:"seed"`
	// NextIndex is the index the next created set gets: lossy health draws
	// are seeded by a set's index, deleted sets keep theirs.
	NextIndex int32                    `json:"nextIndex"`
	Bad       map[string]fault.BadKind `json:"bad,omitempty"`
	// ResetsData is the planted data-disk bug (ResetDataOnReimage).
	ResetsData bool          `json:"resetsData,omitempty"`
	Sets       []SetSnapshot `json:"sets,omitempty"`
	// Deleted are deleted sets whose boots and grace periods are still
	// pending: they go on (unseen), and NextEvent reports them.
	Deleted []SetSnapshot `json:"deleted,omitempty"`
}

// SetSnapshot is one scale set of a Snapshot. Its instances carry their own
// pending events, so a set's snapshot can be taken and saved on its own.
type SetSnapshot struct {
	Format    int                   `json:"format"`
	Time      time.Time             `json:"time"`
	Index     int32                 `json:"index"`
	Model     orchestrator.ScaleSet `json:"model"`
	Instances []InstanceSnapshot    `json:"instances"`
}

// InstanceSnapshot is an instance's hidden state, what it reports, its
// fault switches and its pending boot or health verdict.
type InstanceSnapshot struct {
	Report  plan.Instance  `json:"report"`
	Gen     uint32         `json:"gen"`
	Booted  bool           `json:"booted,omitempty"`
	Verdict bool           `json:"verdict,omitempty"`
	Down    uint8          `json:"down,omitempty"`
	App     uint8          `json:"app,omitempty"`
	Data    uint64         `json:"data"`
	Faults  *FaultSnapshot `json:"faults,omitempty"`
	Pending []PendingEvent `json:"pending,omitempty"`
}

// FaultSnapshot is an instance's active fault switches. A switch has no
// duration of its own in the fleet: whoever turned it on turns it off.
type FaultSnapshot struct {
	SlowBoot   time.Duration `json:"slowBoot,omitempty"`
	SlowOnly   string        `json:"slowOnly,omitempty"`
	ExtFail    bool          `json:"extensionFailure,omitempty"`
	Lie        bool          `json:"lie,omitempty"`
	Pause      bool          `json:"pause,omitempty"`
	FlapSince  time.Time     `json:"flapSince,omitzero"`
	FlapPeriod time.Duration `json:"flapPeriod,omitempty"`
	Partition  bool          `json:"partition,omitempty"`
	LossPct    int           `json:"lossPercent,omitempty"`
	Latency    time.Duration `json:"latency,omitempty"`
	LinkRate   int           `json:"linkRate,omitempty"`
}

// PendingEvent is a boot ending or a grace period ending at At, for the
// instance's boot Gen (a stale one when it is not the instance's Gen).
type PendingEvent struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // boot | verdict
	Gen  uint32    `json:"gen"`
}

var pendingKinds = []string{evBoot: "boot", evVerdict: "verdict"}

// Snapshot takes the whole fleet.
func (f *Fleet) Snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.fleetSnapshot()
	pend := f.pending(nil)
	for _, n := range slices.Sorted(maps.Keys(f.sets)) {
		out.Sets = append(out.Sets, f.setSnapshot(f.sets[n], pend))
	}
	return out
}

// FleetSnapshot is the Snapshot without its sets: what SetSnapshot does not
// hold.
func (f *Fleet) FleetSnapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fleetSnapshot()
}

func (f *Fleet) fleetSnapshot() Snapshot {
	out := Snapshot{Format: SnapshotFormat, Time: f.clock.Now(), Seed: f.seed, NextIndex: int32(len(f.byIdx)), Bad: maps.Clone(f.bad), ResetsData: f.resets}
	// A deleted set's slot is empty (DeleteScaleSet), but its queued events
	// stay until due: they change nothing when they fire, yet NextEvent
	// reports them. Only they are kept, in an entry with no model.
	var deleted map[int32]*SetSnapshot
	for _, s := range f.byIdx {
		if s == nil {
			deleted = map[int32]*SetSnapshot{}
			break
		}
	}
	if deleted == nil {
		return out
	}
	for k, evs := range f.pending(nil) {
		if f.byIdx[k.set] != nil {
			continue
		}
		d := deleted[k.set]
		if d == nil {
			d = &SetSnapshot{Format: SnapshotFormat, Time: out.Time, Index: k.set}
			deleted[k.set] = d
		}
		for int32(len(d.Instances)) <= k.idx {
			d.Instances = append(d.Instances, InstanceSnapshot{})
		}
		d.Instances[k.idx].Pending = evs
		d.Model.Capacity = len(d.Instances)
	}
	for _, i := range slices.Sorted(maps.Keys(deleted)) {
		out.Deleted = append(out.Deleted, *deleted[i])
	}
	return out
}

// SetSnapshot takes one scale set. Its cost is the set's size plus the
// number of pending events of the whole fleet.
func (f *Fleet) SetSnapshot(name string) (SetSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.set(name)
	if err != nil {
		return SetSnapshot{}, err
	}
	return f.setSnapshot(s, f.pending(s)), nil
}

type instanceKey struct{ set, idx int32 }

// pending collects the events of set only, or of every set when set is nil,
// in firing order. Stale events (of an earlier boot) are kept: they change
// nothing when they fire, but NextEvent reports them, and a server steps at
// the times it reports.
func (f *Fleet) pending(only *scaleSet) map[instanceKey][]PendingEvent {
	out := map[instanceKey][]PendingEvent{}
	times := slices.Clone(f.queue.times)
	slices.Sort(times)
	for _, k := range times {
		at := time.Unix(0, k).UTC()
		for _, e := range *f.queue.buckets[k] {
			if only == nil || f.byIdx[e.set] == only {
				key := instanceKey{e.set, e.idx}
				out[key] = append(out[key], PendingEvent{At: at, Kind: pendingKinds[e.kind], Gen: e.gen})
			}
		}
	}
	return out
}

func (f *Fleet) setSnapshot(s *scaleSet, pend map[instanceKey][]PendingEvent) SetSnapshot {
	out := SetSnapshot{Format: SnapshotFormat, Time: f.clock.Now(), Index: s.index, Model: s.model, Instances: make([]InstanceSnapshot, len(s.vms))}
	for i := range s.vms {
		v := &s.vms[i]
		is := InstanceSnapshot{Report: s.obs[i], Gen: v.gen, Booted: v.booted, Verdict: v.verdict, Down: v.down, App: v.app, Data: s.dataOf(int32(i)), Pending: pend[instanceKey{s.index, int32(i)}]}
		if x := s.extra[int32(i)]; x != nil {
			is.Faults = &FaultSnapshot{SlowBoot: x.slowBoot, SlowOnly: x.slowOnly, ExtFail: x.extFail, Lie: x.lie, Pause: x.pause, FlapSince: x.flapSince, FlapPeriod: x.flapPeriod, Partition: x.partition, LossPct: x.lossPct, Latency: x.latency, LinkRate: x.linkRate}
		}
		out.Instances[i] = is
	}
	return out
}

// Restore brings a snapshot back into a fleet that has no scale sets yet
// and takes its seed too. Sets whose index a deleted set held
// stay free, so lossy health draws match the fleet the snapshot was taken
// from. Nothing is restored when the snapshot is refused.
func (f *Fleet) Restore(snap Snapshot) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if snap.Format != SnapshotFormat {
		return fmt.Errorf("%w: %d (this build reads %d)", ErrSnapshotFormat, snap.Format, SnapshotFormat)
	}
	if len(f.byIdx) > 0 {
		return errors.New("sim: restore into a fleet that has scale sets")
	}
	n := snap.NextIndex
	all := slices.Concat(snap.Sets, snap.Deleted)
	for _, ss := range all {
		if err := checkSet(ss); err != nil {
			return err
		}
		n = max(n, ss.Index+1)
	}
	byIdx := make([]*scaleSet, n)
	taken := make([]bool, n)
	sets := map[string]*scaleSet{}
	for i, ss := range all {
		if taken[ss.Index] || (i < len(snap.Sets) && sets[ss.Model.Name] != nil) {
			return fmt.Errorf("sim: snapshot holds set %s or index %d twice", ss.Model.Name, ss.Index)
		}
		taken[ss.Index] = true
		if i < len(snap.Sets) {
			s := restoreSet(ss, dataBaseOf(snap.Seed, ss.Model.Name))
			byIdx[ss.Index] = s
			sets[ss.Model.Name] = s
		}
		// A deleted set's slot stays empty: only its pending events return.
	}
	f.byIdx, f.sets, f.lastSet = byIdx, sets, nil
	f.timed = nil
	for _, s := range sets {
		f.retime(s)
	}
	f.seed = snap.Seed // data disks and lossy health draws follow the snapshot's seed
	f.bad = maps.Clone(snap.Bad)
	if f.bad == nil {
		f.bad = map[string]fault.BadKind{}
	}
	f.resets = snap.ResetsData
	for _, ss := range all {
		for i, is := range ss.Instances {
			for _, p := range is.Pending {
				f.queue.push(p.At, evt{set: ss.Index, idx: int32(i), gen: p.Gen, kind: uint8(slices.Index(pendingKinds, p.Kind))})
			}
		}
	}
	return nil
}

func checkSet(ss SetSnapshot) error {
	switch {
	case ss.Format != SnapshotFormat:
		return fmt.Errorf("%w: set %s in format %d (this build reads %d)", ErrSnapshotFormat, ss.Model.Name, ss.Format, SnapshotFormat)
	case ss.Index < 0:
		return fmt.Errorf("sim: snapshot of set %s: index %d", ss.Model.Name, ss.Index)
	case len(ss.Instances) != ss.Model.Capacity:
		return fmt.Errorf("sim: snapshot of set %s: %d instances for a capacity of %d", ss.Model.Name, len(ss.Instances), ss.Model.Capacity)
	}
	for i, is := range ss.Instances {
		for _, p := range is.Pending {
			if !slices.Contains(pendingKinds, p.Kind) {
				return fmt.Errorf("sim: snapshot of set %s: instance %d: pending event %q", ss.Model.Name, i, p.Kind)
			}
		}
	}
	return nil
}

// restoreSet brings back one set; dataBase derives its initial data disks
// (Fleet.dataBase under the snapshot's seed).
func restoreSet(ss SetSnapshot, dataBase uint64) *scaleSet {
	s := &scaleSet{index: ss.Index, model: ss.Model, vms: make([]vm, len(ss.Instances)), obs: make([]plan.Instance, len(ss.Instances)), extra: map[int32]*extra{}, dataBase: dataBase}
	for i, is := range ss.Instances {
		s.vms[i] = vm{gen: is.Gen, booted: is.Booted, verdict: is.Verdict, down: is.Down, app: is.App}
		s.setData(int32(i), is.Data)
		s.obs[i] = is.Report
		if x := is.Faults; x != nil {
			s.extra[int32(i)] = &extra{slowBoot: x.SlowBoot, slowOnly: x.SlowOnly, extFail: x.ExtFail, lie: x.Lie, pause: x.Pause, flapSince: x.FlapSince, flapPeriod: x.FlapPeriod, partition: x.Partition, lossPct: x.LossPct, latency: x.Latency, linkRate: x.LinkRate}
		}
	}
	return s
}
