package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/boltstore"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// recordingFleet wraps the fleet and records, in the state database, what
// each instance was last reimaged to and when, plus an append-only log of
// every reimage the fleet carried out. The API reads it for
// latestModelApplied; a restarted server rebuilds a simulated fleet from it
// (the sim lives in the process, the VMs it stands for do not die with it).
type recordingFleet struct {
	// inner is the fleet as the handlers see it (a version marked bad on it
	// is saved: savedSim, savedBadVersions); base is the fleet itself.
	inner orchestrator.Fleet
	base  orchestrator.Fleet
	store *boltstore.Store
	clock orchestrator.Clock
	// sim is the simulated fleet when inner is one: every change to it is
	// saved as a snapshot in the transaction that records the change, so
	// that a restarted server restores exactly what it had acted on.
	sim *sim.Fleet
	log *slog.Logger
	// pending are the sim's reimage records not yet committed, dirty the
	// sets whose snapshots go with them (flush).
	pending []boltstore.Doc
	dirty   map[string]bool
	// beforeCall, when set (by the crash tests), runs before each call
	// into the fleet, with the instance a reimage is for (-1 for the
	// others); an error it returns is the call's, and nothing is done.
	beforeCall func(method string, id int) error

	mu   sync.Mutex
	sets map[string]*fleetState
	seq  uint64
}

var (
	_ orchestrator.Fleet       = (*recordingFleet)(nil)
	_ orchestrator.Provisioner = (*recordingFleet)(nil)
	_ orchestrator.BatchStore  = fleetFirstStore{}
	_ fault.Injector           = (*recordingFleet)(nil)
)

const (
	kindFleet    = "fleet"      // set name -> fleetSetDoc
	kindFleetVM  = "fleetvm"    // "set/000000012" -> instanceDoc
	kindFleetLog = "fleetlog"   // sequence -> FleetLogEntry
	kindSimFleet = "simfleet"   // simFleetKey -> sim.Snapshot without its sets
	kindSimSet   = "simset"     // set name -> sim.SetSnapshot
	kindBad      = "badversion" // version -> fault.BadKind ("" once cleared)
)

const simFleetKey = "fleet"

type fleetSetDoc struct {
	Base    string    `json:"base"`
	Created time.Time `json:"created"`
}

type instanceDoc struct {
	Version  string    `json:"version"`
	Reimaged time.Time `json:"reimaged"`
	Reimages int       `json:"reimages"`
}

type fleetState struct {
	fleetSetDoc
	vms map[int]instanceDoc
}

// FleetLogEntry is one reimage the fleet carried out (or a set's creation
// or deletion), as /osupgrade/fleet/journal returns it.
type FleetLogEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Set     string    `json:"set"`
	Kind    string    `json:"kind"` // create | reimage | delete
	ID      int       `json:"id"`
	Version string    `json:"version"`
}

func vmKey(set string, id int) string { return fmt.Sprintf("%s/%09d", set, id) }

func newRecordingFleet(ctx context.Context, inner orchestrator.Fleet, st *boltstore.Store, clk orchestrator.Clock) (*recordingFleet, error) {
	f := &recordingFleet{inner: inner, base: inner, store: st, clock: clk, sets: map[string]*fleetState{}, log: slog.New(slog.DiscardHandler), dirty: map[string]bool{}}
	switch w := inner.(type) {
	case *savedSim:
		f.sim, f.base, w.rec = w.Fleet, w.Fleet, f
	case *savedBadVersions:
		f.base, w.rec = w.Fleet, f
	}
	err := st.Resources(ctx, kindFleet, "", func(k string, doc []byte) error {
		var d fleetSetDoc
		if err := json.Unmarshal(doc, &d); err != nil {
			return fmt.Errorf("fleet state of %s: %w", k, err)
		}
		f.sets[k] = &fleetState{fleetSetDoc: d, vms: map[int]instanceDoc{}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = st.Resources(ctx, kindFleetVM, "", func(k string, doc []byte) error {
		set, id, err := parseVMKey(k)
		if err != nil {
			return err
		}
		var d instanceDoc
		if err := json.Unmarshal(doc, &d); err != nil {
			return fmt.Errorf("fleet instance %s: %w", k, err)
		}
		if s := f.sets[set]; s != nil {
			s.vms[id] = d
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = st.Resources(ctx, kindFleetLog, "", func(k string, _ []byte) error {
		n, err := strconv.ParseUint(k, 10, 64)
		if err == nil && n > f.seq {
			f.seq = n
		}
		return nil
	})
	return f, err
}

// versions is what each instance of a set runs according to the records.
func (f *recordingFleet) versions(set string, n int, fallback string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, n)
	s := f.sets[set]
	for i := range out {
		out[i] = fallback
		if s != nil {
			out[i] = s.Base
			if d, ok := s.vms[i]; ok {
				out[i] = d.Version
			}
		}
	}
	return out
}

// lastReimage is when instance id last got a new OS disk (its creation
// when never).
func (f *recordingFleet) lastReimage(set string, id int) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sets[set]
	if s == nil {
		return time.Time{}
	}
	if d, ok := s.vms[id]; ok {
		return d.Reimaged
	}
	return s.Created
}

func (f *recordingFleet) logEntry(e FleetLogEntry) (string, []byte) {
	f.seq++
	e.Seq = f.seq
	b, _ := json.Marshal(e)
	return fmt.Sprintf("%020d", e.Seq), b
}

func (f *recordingFleet) hook(method string, id int) error {
	if f.beforeCall == nil {
		return nil
	}
	return f.beforeCall(method, id)
}

func (f *recordingFleet) Observe(ctx context.Context, set string) ([]plan.Instance, error) {
	if err := f.hook("observe", -1); err != nil {
		return nil, err
	}
	return f.inner.Observe(ctx, set)
}

func (f *recordingFleet) Reimage(ctx context.Context, set string, id int, image plan.Image) error {
	if err := f.hook("reimage", id); err != nil {
		return err
	}
	if err := f.inner.Reimage(ctx, set, id, image); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sets[set]
	if s == nil {
		s = &fleetState{vms: map[int]instanceDoc{}}
		f.sets[set] = s
	}
	now := f.clock.Now()
	d := s.vms[id]
	d = instanceDoc{Version: image.Version, Reimaged: now, Reimages: d.Reimages + 1}
	b, _ := json.Marshal(d)
	k, lb := f.logEntry(FleetLogEntry{Time: now, Set: set, Kind: "reimage", ID: id, Version: image.Version})
	docs := []boltstore.Doc{{Kind: kindFleetVM, Key: vmKey(set, id), Value: b}, {Kind: kindFleetLog, Key: k, Value: lb}}
	if f.sim != nil {
		// The simulated VMs live in this process: their reimages are
		// committed with the set's snapshot before the orchestrator's next
		// write (fleetFirstStore), once per batch rather than per instance.
		f.pending = append(f.pending, docs...)
		f.dirty[set] = true
		s.vms[id] = d
		return nil
	}
	if err := f.store.PutDocs(ctx, docs...); err != nil {
		return fmt.Errorf("record reimage of %s/%d: %w", set, id, err)
	}
	s.vms[id] = d
	return nil
}

// flush commits the simulated fleet's pending records: the reimages since
// the last flush and the snapshots of the sets they changed.
func (f *recordingFleet) flush(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) == 0 && len(f.dirty) == 0 {
		return nil
	}
	docs, err := f.simDocs(false, slices.Sorted(maps.Keys(f.dirty))...)
	if err != nil {
		return err
	}
	if err := f.store.PutDocs(ctx, append(docs, f.pending...)...); err != nil {
		return fmt.Errorf("record the fleet's reimages: %w", err)
	}
	f.pending, f.dirty = nil, map[string]bool{}
	return nil
}

// fleetFirstStore is the orchestrator's store: the fleet's pending records
// are committed before each of its writes, so that the state database never
// holds an orchestrator ahead of the fleet it acted on.
//
// With PrepareWrites, the fleet's records are committed when the
// orchestrator's writes are, not when they were prepared: its records of a
// reimage are then no later than the orchestrator's of it.
type fleetFirstStore struct {
	*boltstore.Store
	fleet *recordingFleet
}

func (s fleetFirstStore) SaveSet(ctx context.Context, rec *orchestrator.SetRecord) error {
	if err := s.fleet.flush(ctx); err != nil {
		return err
	}
	return s.Store.SaveSet(ctx, rec)
}

// PrepareWrites is the store's, with the fleet's pending records committed
// first when the writes are.
func (s fleetFirstStore) PrepareWrites(w orchestrator.Writes) (func(context.Context) error, error) {
	return s.Store.PrepareWritesAfter(w, s.fleet.flush)
}

func (s fleetFirstStore) DeleteSet(ctx context.Context, name string) error {
	if err := s.fleet.flush(ctx); err != nil {
		return err
	}
	return s.Store.DeleteSet(ctx, name)
}

func (s fleetFirstStore) AppendJournal(ctx context.Context, e orchestrator.JournalEntry) error {
	if err := s.fleet.flush(ctx); err != nil {
		return err
	}
	return s.Store.AppendJournal(ctx, e)
}

func (s fleetFirstStore) SaveCatalog(ctx context.Context, vs []orchestrator.ImageVersion) error {
	if err := s.fleet.flush(ctx); err != nil {
		return err
	}
	return s.Store.SaveCatalog(ctx, vs)
}

func (f *recordingFleet) CreateScaleSet(ctx context.Context, model orchestrator.ScaleSet, version string) error {
	if err := f.hook("create", -1); err != nil {
		return err
	}
	if err := f.flush(ctx); err != nil {
		return err
	}
	if p, ok := f.base.(orchestrator.Provisioner); ok {
		if err := p.CreateScaleSet(ctx, model, version); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	d := fleetSetDoc{Base: version, Created: now}
	b, _ := json.Marshal(d)
	for _, kind := range []string{kindFleetVM, kindSwitch} {
		if err := f.store.DeletePrefix(ctx, kind, model.Name+"/"); err != nil {
			return err
		}
	}
	k, lb := f.logEntry(FleetLogEntry{Time: now, Set: model.Name, Kind: "create", ID: -1, Version: version})
	docs, err := f.simDocs(true, model.Name)
	if err != nil {
		return err
	}
	docs = append(docs, boltstore.Doc{Kind: kindFleet, Key: model.Name, Value: b}, boltstore.Doc{Kind: kindFleetLog, Key: k, Value: lb})
	if err := f.store.PutDocs(ctx, docs...); err != nil {
		return err
	}
	f.sets[model.Name] = &fleetState{fleetSetDoc: d, vms: map[int]instanceDoc{}}
	return nil
}

func (f *recordingFleet) UpdateModel(ctx context.Context, model orchestrator.ScaleSet) error {
	if err := f.hook("update", -1); err != nil {
		return err
	}
	if err := f.flush(ctx); err != nil {
		return err
	}
	p, ok := f.base.(orchestrator.Provisioner)
	if !ok {
		return nil
	}
	if err := p.UpdateModel(ctx, model); err != nil {
		return err
	}
	return f.saveSim(ctx, false, model.Name)
}

func (f *recordingFleet) DeleteScaleSet(ctx context.Context, name string) error {
	if err := f.hook("delete", -1); err != nil {
		return err
	}
	if err := f.flush(ctx); err != nil {
		return err
	}
	if p, ok := f.base.(orchestrator.Provisioner); ok {
		if err := p.DeleteScaleSet(ctx, name); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k, lb := f.logEntry(FleetLogEntry{Time: f.clock.Now(), Set: name, Kind: "delete", ID: -1})
	if err := f.store.DeleteResource(ctx, kindFleet, name); err != nil {
		return err
	}
	for _, kind := range []string{kindFleetVM, kindSwitch} {
		if err := f.store.DeletePrefix(ctx, kind, name+"/"); err != nil {
			return err
		}
	}
	delete(f.sets, name)
	if f.sim != nil {
		if err := f.store.DeleteResource(ctx, kindSimSet, name); err != nil {
			return err
		}
		if err := f.saveSim(ctx, true); err != nil {
			return err
		}
	}
	return f.store.PutResource(ctx, kindFleetLog, k, lb)
}

func (f *recordingFleet) Inject(ctx context.Context, set string, ids []int, s fault.Switch) error {
	if err := f.hook("inject", -1); err != nil {
		return err
	}
	if err := f.flush(ctx); err != nil {
		return err
	}
	inj, ok := f.base.(fault.Injector)
	if !ok {
		return fmt.Errorf("%w: this fleet takes no fault switches", fault.ErrUnsupported)
	}
	err := inj.Inject(ctx, set, ids, s)
	if err != nil && f.sim == nil {
		return err
	}
	// A switch the simulator refused part way may have been applied to
	// the first instances: save what it holds either way.
	docs, serr := f.simDocs(false, set)
	if serr == nil && err == nil {
		var sd []boltstore.Doc
		sd, serr = f.switchDocs(ctx, set, ids, s)
		docs = append(docs, sd...)
	}
	if serr == nil && len(docs) > 0 {
		serr = f.store.PutDocs(ctx, docs...)
	}
	if serr != nil && !errors.Is(serr, orchestrator.ErrNotFound) {
		return errors.Join(err, fmt.Errorf("save fault switch: %w", serr))
	}
	return err
}

// SetBadVersion marks an image version bad in the fleet and saves it, to
// be marked again when the server restarts; on the simulated fleet with
// every set's snapshot: a boot that ended before the change was judged
// without it, one that ends after with it.
func (f *recordingFleet) SetBadVersion(version string, kind fault.BadKind) {
	bv, ok := f.base.(backend.BadVersions)
	if !ok {
		return
	}
	bv.SetBadVersion(version, kind)
	err := f.flush(context.Background())
	var docs []boltstore.Doc
	if err == nil {
		docs, err = f.simDocs(true, f.simSets()...)
	}
	if err == nil {
		docs = append(docs, boltstore.Doc{Kind: kindBad, Key: version, Value: []byte(kind)})
		err = f.store.PutDocs(context.Background(), docs...)
	}
	if err != nil {
		f.log.Error("save bad version", "version", version, "err", err)
	}
}

func (f *recordingFleet) simSets() []string {
	if f.sim == nil {
		return nil
	}
	return f.sim.Sets()
}

// restoreBadVersions marks the saved bad versions on the fleet again.
func (f *recordingFleet) restoreBadVersions(ctx context.Context) error {
	bv, ok := f.base.(backend.BadVersions)
	if !ok {
		return nil
	}
	return f.store.Resources(ctx, kindBad, "", func(version string, doc []byte) error {
		kind, err := fault.ParseBadKind(string(doc))
		if err != nil {
			return fmt.Errorf("saved bad version %s: %w", version, err)
		}
		bv.SetBadVersion(version, kind)
		return nil
	})
}

// simDocs are the snapshots of sets (and of the fleet's own state, when
// fleet) of the simulated fleet, to be saved with the change that made them;
// none for another fleet.
func (f *recordingFleet) simDocs(fleet bool, sets ...string) ([]boltstore.Doc, error) {
	if f.sim == nil {
		return nil, nil
	}
	var docs []boltstore.Doc
	if fleet {
		b, err := json.Marshal(f.sim.FleetSnapshot())
		if err != nil {
			return nil, err
		}
		docs = append(docs, boltstore.Doc{Kind: kindSimFleet, Key: simFleetKey, Value: b})
	}
	for _, name := range sets {
		ss, err := f.sim.SetSnapshot(name)
		if err != nil {
			return nil, fmt.Errorf("snapshot of simulated set %s: %w", name, err)
		}
		b, err := json.Marshal(ss)
		if err != nil {
			return nil, err
		}
		docs = append(docs, boltstore.Doc{Kind: kindSimSet, Key: name, Value: b})
	}
	return docs, nil
}

func (f *recordingFleet) saveSim(ctx context.Context, fleet bool, sets ...string) error {
	docs, err := f.simDocs(fleet, sets...)
	if err != nil || len(docs) == 0 {
		return err
	}
	return f.store.PutDocs(ctx, docs...)
}

// savedSim is the simulated fleet as a server holds it. The faults endpoint
// marks versions bad on the fleet itself: this routes that through the
// recorder, which saves it.
type savedSim struct {
	*sim.Fleet
	rec *recordingFleet
}

func (s *savedSim) SetBadVersion(version string, kind fault.BadKind) {
	s.rec.SetBadVersion(version, kind)
}

// savedBadVersions is another fleet that can mark versions bad (Docker's),
// as a server holds it: the fleet keeps them in memory only, the recorder
// saves them.
type savedBadVersions struct {
	orchestrator.Fleet
	rec *recordingFleet
}

func (s *savedBadVersions) SetBadVersion(version string, kind fault.BadKind) {
	s.rec.SetBadVersion(version, kind)
}

// loadSimSnapshot reads the simulated fleet's saved snapshot; ok is false
// when there is none (a state.db written before snapshots were saved, or a
// Docker fleet's).
func loadSimSnapshot(ctx context.Context, st *boltstore.Store) (snap sim.Snapshot, ok bool, err error) {
	doc, ok, err := st.Resource(ctx, kindSimFleet, simFleetKey)
	if err != nil || !ok {
		return snap, false, err
	}
	if err := json.Unmarshal(doc, &snap); err != nil {
		return snap, false, fmt.Errorf("simulated fleet snapshot: %w", err)
	}
	err = st.Resources(ctx, kindSimSet, "", func(k string, doc []byte) error {
		var ss sim.SetSnapshot
		if err := json.Unmarshal(doc, &ss); err != nil {
			return fmt.Errorf("snapshot of simulated set %s: %w", k, err)
		}
		snap.Sets = append(snap.Sets, ss)
		return nil
	})
	return snap, true, err
}

func (f *recordingFleet) nextEvent() (time.Time, bool) {
	if n, ok := f.base.(backend.Scheduled); ok {
		return n.NextEvent()
	}
	return time.Time{}, false
}

// FleetJournal reads the fleet log after sequence number after.
func (f *recordingFleet) journal(ctx context.Context, set string, after uint64, limit int) ([]FleetLogEntry, error) {
	if err := f.flush(ctx); err != nil {
		return nil, err
	}
	var out []FleetLogEntry
	err := f.store.Resources(ctx, kindFleetLog, "", func(k string, doc []byte) error {
		if limit > 0 && len(out) >= limit {
			return nil
		}
		var e FleetLogEntry
		if err := json.Unmarshal(doc, &e); err != nil {
			return err
		}
		if e.Seq > after && (set == "" || e.Set == set) {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}
