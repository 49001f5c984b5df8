// Package sim is a simulated fleet on a virtual clock: instances are a few
// dozen bytes each, state changes are discrete events, and one seed gives one
// history. It holds 10^6 instances.
//
// It must not read the wall clock or use global randomness: time comes from
// the clock it is given, and the caller advances that clock.
package sim

import (
	"container/heap"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// PassiveClock is the only time the fleet reads.
type PassiveClock interface{ Now() time.Time }

// EventKind names what the fleet did.
type EventKind string

const (
	EventReimage          EventKind = "reimage"           // OS disk replaced, boot begins
	EventBooted           EventKind = "booted"            // OS up, extensions ran and succeeded
	EventExtensionsFailed EventKind = "extensions-failed" // OS up, an extension failed
	EventHealthVerdict    EventKind = "health-verdict"    // grace period over
	EventDown             EventKind = "down"              // stopped by a fault
	EventDataReset        EventKind = "data-reset"        // the data disk was replaced (a planted bug only)
	// EventState: what the instance reports changed (running, provisioning,
	// health or version); Event.State holds the new report.
	EventState EventKind = "state"
)

// Event is one thing the fleet did, for the harness's journal.
type Event struct {
	Time    time.Time
	Set     string
	ID      int
	Kind    EventKind
	Version string
	// State is the instance's report after an EventState.
	State plan.Instance
}

// Fleet is the simulated fleet. Safe for concurrent use.
type Fleet struct {
	mu    sync.Mutex
	clock PassiveClock
	seed  uint64
	sets  map[string]*scaleSet
	byIdx []*scaleSet
	bad   map[string]fault.BadKind // by version
	queue timeQueue
	// changed lists the sets changed since the last ChangedSets.
	changed []*scaleSet
	// timed holds the sets with an instance whose health depends on the
	// time (flapping, a lossy link): the per-step scans (NextEvent,
	// ChangedSets, Observe) visit those alone, not every set's faults.
	timed  map[*scaleSet]struct{}
	onEv   func(Event)
	resets bool
	// lastSet is the set the last call named: a batch's reimages name one
	// set over and over, and its map lookup was a tenth of a reimage.
	lastSet *scaleSet
}

var (
	_ orchestrator.Fleet       = (*Fleet)(nil)
	_ orchestrator.ChangeFeed  = (*Fleet)(nil)
	_ orchestrator.Provisioner = (*Fleet)(nil)
	_ fault.Injector           = (*Fleet)(nil)
)

// vm is an instance's hidden state, 8 bytes. It holds no pointers, so the
// garbage collector never scans 10^6 of them; what the fleet reports lives
// in scaleSet.obs and is refreshed whenever an instance changes. Its data
// disk is not here: it holds the seed's initial contents (InitialData)
// unless scaleSet.data says otherwise.
type vm struct {
	gen     uint32 // bumped on every reimage or reboot: stale events are dropped
	booted  bool
	verdict bool
	down    uint8 // active Down switches
	app     uint8 // active AppUnhealthy switches
}

// extra is the fault state few instances have.
type extra struct {
	slowBoot   time.Duration
	slowOnly   string // slowBoot applies to this version only; empty: any
	extFail    bool
	lie        bool
	pause      bool
	flapSince  time.Time
	flapPeriod time.Duration
	partition  bool
	lossPct    int
	latency    time.Duration
	linkRate   int // bytes per second; 0: not rate-limited
}

type scaleSet struct {
	index int32
	model orchestrator.ScaleSet
	vms   []vm
	obs   []plan.Instance // what Observe reports, kept current
	extra map[int32]*extra
	// dataBase derives each data disk's initial contents; data holds the
	// disks that differ from them (replaced by the planted bug, or
	// restored so from a snapshot): none in a correct run.
	dataBase uint64
	data     map[int32]uint64
	// changed: in Fleet.changed.
	changed bool
}

// dataOf is the data-disk checksum of instance i.
func (s *scaleSet) dataOf(i int32) uint64 {
	if d, ok := s.data[i]; ok {
		return d
	}
	return initialData(s.dataBase, i)
}

// setData records instance i's data-disk checksum.
func (s *scaleSet) setData(i int32, d uint64) {
	if d == initialData(s.dataBase, i) {
		delete(s.data, i)
		return
	}
	if s.data == nil {
		s.data = map[int32]uint64{}
	}
	s.data[i] = d
}

// New creates an empty fleet reading time from clock; seed fixes the data
// disks' initial contents.
func New(clock PassiveClock, seed uint64) *Fleet {
	return &Fleet{clock: clock, seed: seed, sets: map[string]*scaleSet{}, bad: map[string]fault.BadKind{}}
}

// OnEvent registers the journal's recorder. Call before the fleet is used.
func (f *Fleet) OnEvent(fn func(Event)) { f.onEv = fn }

// SetBadVersion marks an image version as bad (a scenario's `bad:`).
func (f *Fleet) SetBadVersion(version string, kind fault.BadKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if kind == fault.BadKindNone {
		delete(f.bad, version)
		return
	}
	f.bad[version] = kind
}

// InitialData is the data-disk checksum instance id starts with.
func (f *Fleet) InitialData(set string, id int) uint64 {
	return initialData(f.dataBase(set), int32(id))
}

// dataBase is what the data disks of set derive from.
func (f *Fleet) dataBase(set string) uint64 { return dataBaseOf(f.seed, set) }

func dataBaseOf(seed uint64, set string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(set))
	return seed ^ h.Sum64()
}

func initialData(base uint64, i int32) uint64 {
	return splitmix(base ^ uint64(i)*0x9e3779b97f4a7c15)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// CreateScaleSet creates the model's instances, booted and healthy on version.
func (f *Fleet) CreateScaleSet(_ context.Context, model orchestrator.ScaleSet, version string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sets[model.Name]; ok {
		return fmt.Errorf("sim: scale set %s exists", model.Name)
	}
	s := &scaleSet{index: int32(len(f.byIdx)), model: model, vms: make([]vm, model.Capacity), obs: make([]plan.Instance, model.Capacity), extra: map[int32]*extra{}, dataBase: f.dataBase(model.Name)}
	for i := range s.vms {
		zone, ud := model.Placement(i)
		s.vms[i] = vm{booted: true, verdict: true}
		s.obs[i] = plan.Instance{ID: i, Zone: zone, UpdateDomain: ud, Version: version, Running: true, Provisioning: plan.ProvisioningSucceeded, Health: plan.HealthHealthy}
	}
	f.byIdx = append(f.byIdx, s)
	f.sets[model.Name] = s
	return nil
}

// UpdateModel takes a new model (extensions, SAS expiry) for later boots.
func (f *Fleet) UpdateModel(_ context.Context, model orchestrator.ScaleSet) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sets[model.Name]
	if !ok {
		return fmt.Errorf("sim: %w: %s", orchestrator.ErrNotFound, model.Name)
	}
	if model.Capacity != len(s.vms) {
		return fmt.Errorf("sim: scale set %s has %d instances, the model %d", model.Name, len(s.vms), model.Capacity)
	}
	s.model = model
	f.touch(s)
	return nil
}

// DeleteScaleSet removes a set. Its slot in byIdx is emptied, not reused:
// its queued events still name it, and are dropped when due.
func (f *Fleet) DeleteScaleSet(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sets[name]; ok {
		if f.lastSet == s {
			f.lastSet = nil
		}
		f.byIdx[s.index] = nil
		delete(f.sets, name)
		// Nor does the change list keep it (a soak deletes sets over and
		// over).
		if s.changed {
			f.changed = slices.DeleteFunc(f.changed, func(c *scaleSet) bool { return c == s })
		}
		delete(f.timed, s)
	}
	return nil
}

func (f *Fleet) set(name string) (*scaleSet, error) {
	if s := f.lastSet; s != nil && s.model.Name == name {
		return s, nil
	}
	s, ok := f.sets[name]
	if !ok {
		return nil, fmt.Errorf("sim: %w: %s", orchestrator.ErrNotFound, name)
	}
	f.lastSet = s
	return s, nil
}

// Observe reports every instance at the clock's time. The slice is the
// fleet's own: it stays valid, and changes in place, until the next call
// into the fleet.
func (f *Fleet) Observe(_ context.Context, name string) ([]plan.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	f.advance(now)
	s, err := f.set(name)
	if err != nil {
		return nil, err
	}
	if _, ok := f.timed[s]; ok {
		for i, x := range s.extra {
			if x.timed() {
				f.refresh(s, i, now) // flapping or lossy health depends on the time
			}
		}
	}
	return s.obs, nil
}

// ChangedSets lists the sets changed since the last call: an instance
// reimaged, booted, faulted or given its health verdict, a model updated,
// and every set whose health depends on the time (flapping, lossy links).
func (f *Fleet) ChangedSets() (sets []string, all bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance(f.clock.Now())
	for _, s := range f.changed {
		s.changed = false
		if f.byIdx[s.index] == s {
			sets = append(sets, s.model.Name)
		}
	}
	f.changed = f.changed[:0]
	timed := make([]*scaleSet, 0, len(f.timed))
	for s := range f.timed {
		timed = append(timed, s)
	}
	slices.SortFunc(timed, func(a, b *scaleSet) int { return int(a.index - b.index) }) // the fleet's order, not the map's
	for _, s := range timed {
		sets = append(sets, s.model.Name)
	}
	return sets, false
}

// touch records that a set changed (ChangedSets).
func (f *Fleet) touch(s *scaleSet) {
	if !s.changed {
		s.changed = true
		f.changed = append(f.changed, s)
	}
}

// timed reports a fault that makes health depend on the time.
func (x *extra) timed() bool { return x.flapPeriod > 0 || x.lossPct > 0 }

// retime records whether s has an instance whose health depends on the
// time (Fleet.timed).
func (f *Fleet) retime(s *scaleSet) {
	for _, x := range s.extra {
		if x.timed() {
			if f.timed == nil {
				f.timed = map[*scaleSet]struct{}{}
			}
			f.timed[s] = struct{}{}
			return
		}
	}
	delete(f.timed, s)
}

// refresh recomputes what instance i reports.
func (f *Fleet) refresh(s *scaleSet, i int32, now time.Time) {
	f.touch(s)
	v, o := &s.vms[i], &s.obs[i]
	before := *o
	o.Running = v.booted && v.down == 0
	o.Health = f.health(s, i, v, o.Running, s.model.Health, now)
	if f.onEv != nil && *o != before {
		f.onEv(Event{Time: now, Set: s.model.Name, ID: int(i), Kind: EventState, Version: o.Version, State: *o})
	}
}

// health is what the probe or the health extension reports.
func (f *Fleet) health(s *scaleSet, i int32, v *vm, running bool, mode plan.HealthMode, now time.Time) plan.Health {
	if !running {
		return plan.HealthUnknown
	}
	x := s.extra[i]
	if x != nil && (x.pause || x.unreachable(f.seed, s.index, i, now, s.model.AppHealth.Interval())) {
		// A hung or unreachable VM: the probe fails, the extension's
		// status cannot be read.
		if mode == plan.HealthProbe {
			return plan.HealthUnhealthy
		}
		return plan.HealthUnknown
	}
	if mode == plan.HealthNone {
		// R-HEALTH-2: running with every extension provisioned; nobody asks
		// the app (as the Docker fleet reports it).
		switch s.obs[i].Provisioning {
		case plan.ProvisioningSucceeded:
			return plan.HealthHealthy
		case plan.ProvisioningFailed:
			return plan.HealthUnhealthy
		}
		return plan.HealthUnknown
	}
	if !v.verdict {
		if mode == plan.HealthProbe {
			return plan.HealthUnhealthy
		}
		return plan.HealthInitializing
	}
	bad := v.app > 0 || (len(f.bad) > 0 && f.bad[s.obs[i].Version] == fault.NeverHealthy)
	if x != nil && x.flapPeriod > 0 && (now.Sub(x.flapSince)/x.flapPeriod)%2 == 1 {
		bad = true
	}
	if bad {
		if x != nil && x.lie && mode == plan.HealthExtension {
			return plan.HealthHealthy // the extension lies; a probe would not
		}
		return plan.HealthUnhealthy
	}
	return plan.HealthHealthy
}

// Reimage replaces the OS disk: the data disk is kept (R-UPG-1), the OS boots
// after the model's boot time, then extensions run, then the health grace
// period runs.
func (f *Fleet) Reimage(_ context.Context, name string, id int, image plan.Image) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	f.advance(now)
	s, err := f.set(name)
	if err != nil {
		return err
	}
	if id < 0 || id >= len(s.vms) {
		return fmt.Errorf("sim: scale set %s has no instance %d", name, id)
	}
	f.touch(s)
	v := &s.vms[id]
	s.obs[id].Version = image.Version
	s.obs[id].Provisioning = plan.ProvisioningUpdating
	v.booted, v.verdict = false, false
	v.gen++
	if f.resets {
		s.setData(int32(id), 0)
		f.emit(Event{Time: now, Set: name, ID: id, Kind: EventDataReset, Version: image.Version})
	}
	f.emit(Event{Time: now, Set: name, ID: id, Kind: EventReimage, Version: image.Version})
	f.boot(s, int32(id), now)
	f.refresh(s, int32(id), now)
	return nil
}

// boot schedules the end of a boot that starts now.
func (f *Fleet) boot(s *scaleSet, i int32, now time.Time) {
	v := &s.vms[i]
	if v.down > 0 || (len(f.bad) > 0 && f.bad[s.obs[i].Version] == fault.CrashOnBoot) {
		return // comes up when the switch goes off; a crashing image never does
	}
	d := s.model.BootTime
	if x := s.extra[i]; x != nil {
		if x.slowOnly == "" || x.slowOnly == s.obs[i].Version {
			d += x.slowBoot
		}
		d += x.latency
		if x.linkRate > 0 {
			d += time.Duration(len(s.model.Extensions)) * time.Duration(fault.ExtensionPayload) * time.Second / time.Duration(x.linkRate)
		}
	}
	f.queue.push(now.Add(d), evt{set: s.index, idx: i, gen: v.gen, kind: evBoot})
}

// ResetDataOnReimage is a planted bug for the invariant checker's self-test:
// every reimage then replaces the data disk too.
func (f *Fleet) ResetDataOnReimage(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = on
}

// Data returns the data-disk checksum of every instance of a set.
func (f *Fleet) Data(name string) ([]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.set(name)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(s.vms))
	for i := range out {
		out[i] = initialData(s.dataBase, int32(i))
	}
	for i, d := range s.data {
		out[i] = d
	}
	return out, nil
}

// Inject applies a fault switch to instances.
func (f *Fleet) Inject(_ context.Context, name string, ids []int, sw fault.Switch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	f.advance(now)
	s, err := f.set(name)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id < 0 || id >= len(s.vms) {
			return fmt.Errorf("sim: scale set %s has no instance %d", name, id)
		}
	}
	f.touch(s)
	if sw.Kind == fault.Flap || sw.Kind == fault.Loss {
		defer f.retime(s)
	}
	for _, id := range ids {
		i := int32(id)
		v := &s.vms[i]
		x := s.extra[i]
		if x == nil {
			x = &extra{}
		}
		switch sw.Kind {
		case fault.AppUnhealthy:
			v.app = step(v.app, sw.On)
		case fault.Restart:
			if sw.On && v.down == 0 {
				// A reboot: down now, booting again on the same OS disk.
				v.gen++
				v.booted, v.verdict = false, false
				f.emit(Event{Time: now, Set: name, ID: id, Kind: EventDown, Version: s.obs[i].Version})
				f.boot(s, i, now)
			}
		case fault.Partition:
			x.partition = sw.On
		case fault.Loss:
			x.lossPct = 0
			if sw.On {
				if sw.Percent < 0 || sw.Percent > 100 {
					return fmt.Errorf("sim: loss of %d%%: want 0 to 100", sw.Percent)
				}
				x.lossPct = sw.Percent
			}
		case fault.Latency:
			x.latency = 0
			if sw.On {
				x.latency = sw.Delay
			}
		case fault.SlowLink:
			x.linkRate = 0
			if sw.On {
				if sw.Rate <= 0 {
					return fmt.Errorf("sim: slow-link needs a rate in bytes per second")
				}
				x.linkRate = sw.Rate
			}
		case fault.Down, fault.Kill, fault.Stop:
			wasDown := v.down > 0
			v.down = step(v.down, sw.On)
			switch {
			case !wasDown && v.down > 0:
				v.gen++
				v.booted, v.verdict = false, false
				f.emit(Event{Time: now, Set: name, ID: id, Kind: EventDown, Version: s.obs[i].Version})
			case wasDown && v.down == 0:
				f.boot(s, i, now) // the VM restarts on the same OS disk
			}
		case fault.SlowBoot:
			x.slowBoot, x.slowOnly = 0, ""
			if sw.On {
				x.slowBoot, x.slowOnly = sw.Delay, sw.Version
			}
		case fault.ExtensionFailure:
			x.extFail = sw.On
		case fault.Lie:
			x.lie = sw.On
		case fault.Pause:
			x.pause = sw.On
		case fault.Flap:
			x.flapPeriod, x.flapSince = 0, time.Time{}
			if sw.On {
				if sw.Period <= 0 {
					return fmt.Errorf("sim: flap needs a period")
				}
				x.flapPeriod, x.flapSince = sw.Period, now
			}
		default:
			return fmt.Errorf("sim: %w: %s", fault.ErrUnsupported, sw.Kind)
		}
		if *x == (extra{}) {
			delete(s.extra, i)
		} else {
			s.extra[i] = x
		}
		f.refresh(s, i, now)
	}
	return nil
}

func step(n uint8, on bool) uint8 {
	if on {
		return n + 1
	}
	if n > 0 {
		return n - 1
	}
	return 0
}

// NextEvent is when the fleet's state next changes by itself: a boot, the
// end of a grace period, a flap. ok is false when nothing is pending.
func (f *Fleet) NextEvent() (t time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	f.advance(now) // what is due has happened: the next event is in the future
	if len(f.queue.times) > 0 {
		t, ok = time.Unix(0, f.queue.times[0]).UTC(), true
	}
	for s := range f.timed {
		for _, x := range s.extra {
			if x.flapPeriod > 0 {
				n := now.Sub(x.flapSince)/x.flapPeriod + 1
				ft := x.flapSince.Add(n * x.flapPeriod)
				if !ok || ft.Before(t) {
					t, ok = ft, true
				}
			}
		}
	}
	return t, ok
}

// Advance applies every event due by the clock's time.
func (f *Fleet) Advance() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance(f.clock.Now())
}

func (f *Fleet) advance(now time.Time) {
	for len(f.queue.times) > 0 && f.queue.times[0] <= now.UnixNano() {
		at := time.Unix(0, f.queue.times[0]).UTC()
		due := f.queue.pop()
		for _, e := range due {
			f.fire(e, at)
		}
		f.queue.recycle(due)
	}
}

func (f *Fleet) fire(e evt, at time.Time) {
	s := f.byIdx[e.set]
	if s == nil {
		return // the set was deleted
	}
	v := &s.vms[e.idx]
	if v.gen != e.gen {
		return
	}
	o := &s.obs[e.idx]
	switch e.kind {
	case evBoot:
		v.booted = true
		o.Provisioning = plan.ProvisioningSucceeded
		kind := EventBooted
		if f.extensionsFail(s, e.idx, at) {
			o.Provisioning = plan.ProvisioningFailed
			kind = EventExtensionsFailed
		}
		f.emit(Event{Time: at, Set: s.model.Name, ID: int(e.idx), Kind: kind, Version: o.Version})
		f.queue.push(at.Add(s.model.AppHealth.Grace()), evt{set: e.set, idx: e.idx, gen: v.gen, kind: evVerdict})
	case evVerdict:
		v.verdict = true
		f.emit(Event{Time: at, Set: s.model.Name, ID: int(e.idx), Kind: EventHealthVerdict, Version: o.Version})
	}
	f.refresh(s, e.idx, at)
}

// extensionsFail runs the model's extensions in sequence (R-REQ-9 order):
// one fails when its SAS token has expired (R-CRED-1), when the image fails
// every extension, or when a fault says so.
func (f *Fleet) extensionsFail(s *scaleSet, i int32, at time.Time) bool {
	if len(f.bad) > 0 && f.bad[s.obs[i].Version] == fault.FailsExtensions {
		return true
	}
	if x := s.extra[i]; x != nil && x.extFail && len(s.model.Extensions) > 0 {
		return true
	}
	if x := s.extra[i]; x != nil && (x.partition || x.lossPct == 100) {
		for _, e := range s.model.Extensions {
			if !e.SASExpiresAt.IsZero() {
				return true // the blob behind the SAS URL cannot be reached
			}
		}
	}
	for _, e := range s.model.Extensions {
		if !e.SASExpiresAt.IsZero() && !at.Before(e.SASExpiresAt) {
			return true
		}
	}
	return false
}

func (f *Fleet) emit(e Event) {
	if f.onEv != nil {
		f.onEv(e)
	}
}

// Sets lists the scale sets.
func (f *Fleet) Sets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.sets {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

const (
	evBoot uint8 = iota
	evVerdict
)

type evt struct {
	set  int32
	idx  int32
	gen  uint32
	kind uint8
}

// timeQueue buckets events by time: a rollout's batch boots at one instant,
// so 200000 boots cost one heap entry.
//
// A bucket's slice is reused once fired (recycle), and pushes to the bucket
// pushed last skip the map: a batch's boots all land in one bucket, then its
// verdicts in the next, so a 10^6-instance rollout allocates two buckets'
// worth of events instead of growing fresh slices for every batch (that
// was ~125 of its ~435 bytes per instance).
type timeQueue struct {
	times   int64Heap
	buckets map[int64]*[]evt
	lastKey int64
	last    *[]evt // the bucket of lastKey; nil after it was popped
	free    [][]evt
}

// maxFreeBuckets bounds the slices kept for reuse: a rollout has at most a
// few bucket times pending at once (boots and verdicts of one batch).
const maxFreeBuckets = 4

func (q *timeQueue) push(t time.Time, e evt) {
	k := t.UnixNano()
	if q.last != nil && k == q.lastKey {
		*q.last = append(*q.last, e)
		return
	}
	if q.buckets == nil {
		q.buckets = map[int64]*[]evt{}
	}
	b, ok := q.buckets[k]
	if !ok {
		b = new([]evt)
		if n := len(q.free); n > 0 {
			*b, q.free = q.free[n-1], q.free[:n-1]
		}
		q.buckets[k] = b
		heap.Push(&q.times, k)
	}
	*b = append(*b, e)
	q.lastKey, q.last = k, b
}

// pop removes and returns the earliest bucket; hand it to recycle once its
// events are fired.
func (q *timeQueue) pop() []evt {
	k := heap.Pop(&q.times).(int64)
	b := q.buckets[k]
	delete(q.buckets, k)
	if b == q.last {
		q.last = nil
	}
	return *b
}

// recycle keeps a fired bucket's storage for a later time.
func (q *timeQueue) recycle(b []evt) {
	if cap(b) > 0 && len(q.free) < maxFreeBuckets {
		q.free = append(q.free, b[:0])
	}
}

type int64Heap []int64

func (h int64Heap) Len() int           { return len(h) }
func (h int64Heap) Less(i, j int) bool { return h[i] < h[j] }
func (h int64Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *int64Heap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *int64Heap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// DataDigests is Data for the harness's data-disk check (I-4).
func (f *Fleet) DataDigests(_ context.Context, name string) ([]uint64, error) { return f.Data(name) }

// unreachable reports whether the health report of instance i is lost at
// now: always under a partition or 100% loss, else with probability
// lossPct% drawn from (seed, set, instance, probe interval), or when the
// link's latency reaches the probe interval (the probe times out).
func (x *extra) unreachable(seed uint64, set, i int32, now time.Time, interval time.Duration) bool {
	if x.partition || x.lossPct >= 100 || (x.latency > 0 && x.latency >= interval) {
		return true
	}
	if x.lossPct == 0 {
		return false
	}
	tick := uint64(now.UnixNano() / int64(interval))
	return splitmix(seed^uint64(set)<<40^uint64(i)<<8^tick*0x9e3779b97f4a7c15)%100 < uint64(x.lossPct)
}
