package harness

import (
	"fmt"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Journal is the fleet-side record of a run: what the instances did, on the
// scenario clock, as the fleet reports it (the sim's event stream, Docker's
// events and inspection), never the orchestrator's own account. It checks
// the time-dependent invariants (I-1, I-2, I-5) as events arrive and keeps
// what the end-of-run checks (I-3, I-6) need, in O(1) per event and 24 bytes
// per instance, so a 10^6-instance run stays cheap. It keeps the first
// MaxJournalEvents events for the report.
//
// What "being upgraded" means from the fleet side: an instance is upgrading
// from the moment its OS disk is replaced by one of another version until it
// is healthy on that version (R-HEALTH-1/2), its provisioning failed, or the
// 5-minute wait of R-HEALTH-1 is over — the planner cannot hold it longer.
// A reimage to the version the instance already runs (the R-CRED-1 model
// update) upgrades nothing and is not counted.
//
// A Journal is not safe for concurrent use; the World serializes sources
// that report from other goroutines.
type Journal struct {
	// Deadline is how long an upgrade can hold an instance: HealthTimeout,
	// less Slack where the fleet's timestamps trail the decisions.
	deadline time.Duration
	// slack is that Slack: it also lengthens the time in which an upgraded
	// instance that turns healthy escapes R-STOP-1's count, so that neither
	// side of the 5-minute boundary is judged finer than the fleet's
	// timestamps can tell.
	slack time.Duration
	sets  map[string]*setJournal
	order []*setJournal
	last  *setJournal
	// The upgrades' waits, oldest first: runs of instances whose wait
	// began at one instant (a batch), their indexes in idxs.
	queue []expiryRun
	idxs  []int32
	qHead int
	iHead int
	// Lag is how far the fleet's timestamp of a reimage trails the start of
	// the call that made it, where the harness itself made fleet calls slow
	// (engine-error kind slow); the world resets it at every step. An
	// upgrade's wait counts from the start of its reimage call, as the
	// orchestrator's does.
	Lag time.Duration
	// step counts the orchestrator's steps (StepBegins): the reimages of
	// one step carry out one decision, so they are one batch, and none of
	// their waits ends before the step does.
	step uint32

	// regions are the upgrades of automatic rollouts in flight, by region,
	// image and version, then by zone (I-5 across a region: see
	// journal_region.go); regionOrder lists them as they first appeared.
	regions     map[string]*regionFlight
	regionOrder []*regionFlight

	Events        []JournalEvent
	EventsDropped int
	violations    map[string]*violationLog
}

// MaxJournalEvents is how many events a result lists.
const MaxJournalEvents = 2_000

// JournalEvent is one thing the fleet did, as the report lists it.
type JournalEvent struct {
	Time     time.Time `json:"time"`
	Set      string    `json:"set"`
	Instance int       `json:"instance"`
	// Event: reimage (OS disk replaced, Version the new one), state (the
	// instance's report changed: Health, Running, Provisioning).
	Event        string `json:"event"`
	Version      string `json:"version"`
	Running      bool   `json:"running,omitempty"`
	Provisioning string `json:"provisioning,omitempty"`
	Health       string `json:"health,omitempty"`
}

type expiryRun struct {
	from int64 // the reimage call's start: the reimage's time less Lag
	set  uint16
	step uint32
	end  int32 // idxs[previous run's end:end]
}

// StepBegins tells the journal the orchestrator starts a new step: the
// fleet calls of the last one are all made.
func (j *Journal) StepBegins() {
	j.step++
	j.Lag = 0
}

// Instance flags.
const (
	fUnhealthy      uint32 = 1 << iota // the health gates count it unhealthy (gateUnhealthy)
	fHealthyOn                         // healthy on the version it runs (healthyOn)
	fFailed                            // provisioning failed on the version it runs
	fInflight                          // upgrading (see Journal)
	fRollbackIv                        // the open interval is a rollback
	fUpgraded                          // upgraded in the current rollout
	fSucceeded                         // healthy on the target within the wait
	fSucceededLate                     // healthy on the target at some time after its upgrade
	fSucceededSlack                    // healthy on the target within the wait plus the journal's slack
	fRolledBack                        // back on its previous version, healthy within the wait
	fRolledBackLate                    // back on its previous version, healthy at some time
	fTouchedSame                       // reimaged to the version it ran during the current rollout
	fBad                               // counted in setJournal.bad
	// The orchestrator was told so by the fleet: at one of its observations
	// before the wait ran out (Observed). What it must count, at least.
	fSeenSucceeded  // healthy on the target
	fSeenRolledBack // back and healthy on its previous version
	// The open upgrade interval counts in its region's zone (regionFlight).
	fRegional
)

type instJ struct {
	since int64  // start of the open interval's wait (UnixNano): the reimage less Lag
	upAt  int64  // its latest upgrade reimage
	cur   uint16 // version index it runs
	prev  uint16 // version index before its latest upgrade
	flags uint32
}

type setJournal struct {
	name     string
	index    uint16
	model    orchestrator.ScaleSet
	mode     plan.HealthMode
	maxBatch int   // R-BATCH-1's bound (batchLimit)
	setShare share // R-PRE-1 and R-STOP-2's bound: maxUnhealthyInstancePercent of the set
	versions []string
	vidx     map[string]uint16
	inst     []instJ

	unhealthy int
	inflight  int
	maxFlight int
	flightAt  int64
	zone      string // of the in-flight group
	ud        int

	// The current rollout (epoch): from BeginRollout or the first upgrade
	// to a new version.
	epochs      int
	target      int // version index, -1 before its first upgrade
	epochStart  time.Time
	batches     int
	upgraded    int
	upShare     share // R-STOP-1's bound: maxUnhealthyUpgradedInstancePercent of upgraded, counted as it grows
	bad         int
	pendingEnd  int64  // when the in-flight count last fell to 0; 0: none pending
	settleAt    int64  // R-STOP-1 is evaluated after this (pendingEnd, or the slack's end when a wait ran out)
	upStep      uint32 // the step of the latest upgrade reimage
	tripped     bool   // R-STOP-1 held at the last batch end
	trippedNote string
	checks      [3]int // batch starts checked for R-PRE-1, R-STOP-2, R-STOP-1

	// observes counts the orchestrator's observations of the set, upObs
	// its count at the latest upgrade reimage: the planner observes a set
	// before each decision, so an observation between two reimages means
	// two decisions, even within one step (an orchestrator step makes
	// several passes at one time when a rollout ends or a zone frees; on
	// Docker a batch may be healthy by the next pass, and its successor
	// starts in the same step).
	observes, upObs uint32

	// user: the current rollout was started by the user (R-TRIG-3), whose
	// upgrades keep R-AVAIL-1 within the set and are not counted in the
	// region's zones.
	user bool
	// flights are the region's records of the set's versions, by version
	// index (nil until the first upgrade to it that counts).
	flights []*regionFlight
}

// NewJournal is an empty journal; slack shortens the upgrade deadline where
// the fleet's timestamps trail the orchestrator's decisions (Docker).
func NewJournal(slack time.Duration) *Journal {
	return &Journal{deadline: max(plan.HealthTimeout-slack, 0), slack: slack, sets: map[string]*setJournal{}, regions: map[string]*regionFlight{}, violations: map[string]*violationLog{}}
}

// AddSet starts the record of a scale set whose instances all run version.
func (j *Journal) AddSet(model orchestrator.ScaleSet, version string) {
	s := &setJournal{name: model.Name, index: uint16(len(j.order)), model: model, mode: model.Policy().HealthMode, vidx: map[string]uint16{}, inst: make([]instJ, model.Capacity), target: -1}
	s.maxBatch = batchLimit(model.Capacity, model.Rolling.MaxBatchInstancePercent)
	s.setShare = shareOf(model.Capacity, model.Rolling.MaxUnhealthyInstancePercent)
	s.upShare = share{pct: model.Rolling.MaxUnhealthyUpgradedInstancePercent}
	v := s.version(version)
	for i := range s.inst {
		s.inst[i] = instJ{cur: v, prev: v, flags: fHealthyOn}
	}
	j.sets[model.Name] = s
	j.order = append(j.order, s)
}

// SetVersions restores per-instance versions (a fleet that reattached to
// instances running mixed versions).
func (j *Journal) SetVersions(set string, versions []string) {
	s := j.set(set)
	if s == nil {
		return
	}
	for i := range min(len(versions), len(s.inst)) {
		v := s.version(versions[i])
		s.inst[i].cur, s.inst[i].prev = v, v
	}
}

func (s *setJournal) version(v string) uint16 {
	if i, ok := s.vidx[v]; ok {
		return i
	}
	i := uint16(len(s.versions))
	s.versions = append(s.versions, v)
	s.vidx[v] = i
	return i
}

func (j *Journal) set(name string) *setJournal {
	if j.last != nil && j.last.name == name {
		return j.last
	}
	s := j.sets[name]
	if s != nil {
		j.last = s
	}
	return s
}

// BeginRollout marks where a new rollout of the set begins: the checks that
// compare batches of one rollout (R-STOP-1, I-6) start afresh. The rollout
// is automatic (the platform's): its upgrades count in their region's zones
// (R-AVAIL-1 across a region).
func (j *Journal) BeginRollout(set string, at time.Time) { j.beginRollout(set, at, false) }

// BeginUserRollout is BeginRollout for a rollout the user started (the
// manual trigger, R-TRIG-3): R-AVAIL-1 binds it within its set only.
func (j *Journal) BeginUserRollout(set string, at time.Time) { j.beginRollout(set, at, true) }

func (j *Journal) beginRollout(set string, at time.Time, user bool) {
	s := j.set(set)
	if s == nil {
		return
	}
	j.expire(at.UnixNano(), true)
	s.newEpoch(at, -1)
	s.user = user
}

func (s *setJournal) newEpoch(at time.Time, target int) {
	s.epochs++
	s.target = target
	s.epochStart = at
	s.batches, s.upgraded, s.bad = 0, 0, 0
	s.upShare = share{pct: s.model.Rolling.MaxUnhealthyUpgradedInstancePercent}
	s.tripped, s.trippedNote, s.pendingEnd = false, "", 0
	const epochFlags = fUpgraded | fSucceeded | fSucceededLate | fRolledBack | fRolledBackLate | fTouchedSame | fBad | fSeenSucceeded | fSeenRolledBack
	for i := range s.inst {
		s.inst[i].flags &^= epochFlags
	}
}

// Reimage records that an instance's OS disk was replaced by version.
func (j *Journal) Reimage(at time.Time, set string, id int, version string) {
	s := j.set(set)
	if s == nil || id < 0 || id >= len(s.inst) {
		return
	}
	t := at.UnixNano()
	j.expire(t, true)
	j.log(JournalEvent{Time: at, Set: set, Instance: id, Event: "reimage", Version: version})
	in := &s.inst[id]
	v := s.version(version)
	if v == in.cur {
		// The latest model on the same version (R-CRED-1 recovery), or a
		// rollback of an upgrade that never reached the fleet.
		in.flags |= fTouchedSame
		return
	}
	rollback := in.flags&fUpgraded != 0 && int(in.cur) == s.target && v == in.prev
	if !rollback {
		if int(v) != s.target {
			if s.target >= 0 || s.epochs == 0 {
				s.newEpoch(at, int(v))
			} else {
				s.target = int(v)
			}
		}
		if s.inflight == 0 && (s.upStep != j.step || s.upObs != s.observes || s.batches == 0) {
			j.batchStart(s, at, id)
		}
		s.upStep, s.upObs = j.step, s.observes
	}
	if in.flags&fInflight != 0 {
		j.endInterval(s, in, id, t) // a rollback ends the upgrade it replaces
	}
	before := s.badOf(in)
	if rollback {
		in.flags |= fRollbackIv
	} else {
		in.prev, in.flags = in.cur, in.flags&^(fRollbackIv|fSucceeded|fSucceededLate|fSucceededSlack|fSeenSucceeded)
		if in.flags&fUpgraded == 0 {
			in.flags |= fUpgraded
			s.upgraded++
			s.upShare.count()
		}
		in.upAt = t
	}
	in.cur = v
	in.since = t - int64(j.Lag)
	in.flags |= fInflight
	in.flags &^= fHealthyOn | fFailed
	s.setBad(in, before)
	j.enqueue(in.since, s.index, int32(id))
	s.inflight++
	zone, ud := s.model.Placement(id)
	if !rollback && !s.user && zone != "" {
		j.enterRegion(s, in, id, zone, at)
	}
	if s.inflight == 1 {
		s.zone, s.ud = zone, ud
	} else if zone != s.zone || ud != s.ud {
		j.violate("I-5", at, fmt.Sprintf("%s: instance %d (zone %q, update domain %d) began upgrading while instances of zone %q, update domain %d were upgrading (R-AVAIL-1, R-BATCH-2)", set, id, zone, ud, s.zone, s.ud))
	}
	if s.inflight > s.maxFlight {
		s.maxFlight, s.flightAt = s.inflight, t
	}
	if s.inflight == s.maxBatch+1 {
		j.violate("I-1", at, fmt.Sprintf("%s: %d instances upgrading at once (instance %d the latest), R-BATCH-1 allows max(1, %d%% of %d) = %d", set, s.inflight, id, s.model.Rolling.MaxBatchInstancePercent, len(s.inst), s.maxBatch))
	}
}

// batchStart checks the gates a batch must pass before it starts (I-2):
// R-PRE-1 before the first, R-STOP-2 and R-STOP-1 before the others.
func (j *Journal) batchStart(s *setJournal, at time.Time, id int) {
	j.settle(s, at.UnixNano(), true)
	s.batches++
	n := len(s.inst)
	pct := s.model.Rolling.MaxUnhealthyInstancePercent
	rule := "R-PRE-1"
	if s.batches > 1 {
		rule = "R-STOP-2"
	}
	if s.batches == 1 {
		s.checks[0]++
	} else {
		s.checks[1]++
	}
	if s.setShare.exceededBy(s.unhealthy) {
		j.violate("I-2", at, fmt.Sprintf("%s: batch %d began (instance %d) with %d of %d instances unhealthy, more than %d%% (%s)", s.name, s.batches, id, s.unhealthy, n, pct, rule))
	}
	if s.batches > 1 {
		s.checks[2]++
		if s.tripped {
			j.violate("I-2", at, fmt.Sprintf("%s: batch %d began (instance %d) after %s (R-STOP-1)", s.name, s.batches, id, s.trippedNote))
		}
	}
}

// settle evaluates R-STOP-1 as of the last time the in-flight count fell to
// zero (the end of a batch), once every event of that instant is in.
func (j *Journal) settle(s *setJournal, t int64, force bool) {
	if s.pendingEnd == 0 || (!force && t <= s.settleAt) {
		return
	}
	pct := s.model.Rolling.MaxUnhealthyUpgradedInstancePercent
	s.tripped = s.upShare.exceededBy(s.bad)
	if s.tripped {
		s.trippedNote = fmt.Sprintf("%d of %d upgraded instances were unhealthy at %s, more than %d%%", s.bad, s.upgraded, time.Unix(0, s.pendingEnd).UTC().Format(time.RFC3339), pct)
	}
	s.pendingEnd = 0
}

// State records what an instance reports now.
func (j *Journal) State(at time.Time, set string, r plan.Instance) {
	s := j.set(set)
	if s == nil || r.ID < 0 || r.ID >= len(s.inst) {
		return
	}
	t := at.UnixNano()
	j.expire(t, false)
	j.settle(s, t, false)
	if len(j.Events) < MaxJournalEvents {
		j.log(JournalEvent{Time: at, Set: set, Instance: r.ID, Event: "state", Version: r.Version, Running: r.Running, Provisioning: r.Provisioning.String(), Health: r.Health.String()})
	} else {
		j.EventsDropped++ // skip building an event nobody lists
	}
	in := &s.inst[r.ID]
	before := s.badOf(in)
	if r.Version != s.versions[in.cur] {
		// A version change the journal did not see as a reimage: take it.
		j.leaveRegion(s, in, r.ID)
		in.cur = s.version(r.Version)
	}
	wasUnhealthy := in.flags&fUnhealthy != 0
	in.flags &^= fUnhealthy | fHealthyOn | fFailed
	if gateUnhealthy(&r, s.mode) {
		in.flags |= fUnhealthy
	}
	if healthyOn(&r, r.Version, s.mode) {
		in.flags |= fHealthyOn
	}
	if r.Provisioning == plan.ProvisioningFailed {
		in.flags |= fFailed
	}
	if now := in.flags&fUnhealthy != 0; now != wasUnhealthy {
		if now {
			s.unhealthy++
		} else {
			s.unhealthy--
		}
	}
	healthy := in.flags&fHealthyOn != 0
	if healthy && in.flags&fUpgraded != 0 {
		if int(in.cur) == s.target {
			in.flags |= fSucceededLate
			if t <= in.since+int64(plan.HealthTimeout+j.slack) {
				in.flags |= fSucceededSlack
			}
		} else if in.cur == in.prev {
			in.flags |= fRolledBackLate
		}
	}
	if in.flags&fInflight != 0 && (healthy || in.flags&fFailed != 0) {
		if healthy {
			if in.flags&fRollbackIv != 0 {
				in.flags |= fRolledBack
			} else {
				in.flags |= fSucceeded
			}
		}
		j.endInterval(s, in, r.ID, t)
	}
	s.setBad(in, before)
}

// Observed records what the fleet told the orchestrator at one of its
// observations: an upgraded instance it reported healthy before its wait
// ran out is one the orchestrator cannot count as failed. (An instance
// healthy only while the orchestrator was not looking, then stopped, may
// rightly count as failed: that is why State alone does not bound it.)
func (j *Journal) Observed(at time.Time, set string, obs []plan.Instance) {
	s := j.set(set)
	if s != nil {
		s.observes++
	}
	if s == nil || s.target < 0 || len(obs) != len(s.inst) {
		return
	}
	t := at.UnixNano()
	// Nearly every instance runs one of two versions: look a version up
	// only when it differs from the last one's (the map was a sixteenth
	// of a simulated 10^6 rollout).
	var lastVersion string
	var lastV uint16
	lastOK, looked := false, false
	for i := range obs {
		in := &s.inst[i]
		if in.flags&fUpgraded == 0 || t >= in.since+int64(j.deadline) || !healthyOn(&obs[i], obs[i].Version, s.mode) {
			continue
		}
		if ver := obs[i].Version; !looked || ver != lastVersion {
			lastV, lastOK = s.vidx[ver]
			lastVersion, looked = ver, true
		}
		switch v, ok := lastV, lastOK; {
		case !ok:
		case int(v) == s.target && in.cur == v:
			in.flags |= fSeenSucceeded | fSucceededLate
		case v == in.prev && in.cur == v && in.flags&(fRollbackIv|fRolledBack|fRolledBackLate) != 0:
			in.flags |= fSeenRolledBack | fRolledBackLate
		}
	}
}

// badOf is R-STOP-1's count: upgraded in this rollout and not healthy on the
// target in time, or unhealthy now.
func (s *setJournal) badOf(in *instJ) bool {
	return in.flags&fUpgraded != 0 && (in.flags&(fSucceeded|fSucceededSlack) == 0 || in.flags&fUnhealthy != 0)
}

func (s *setJournal) setBad(in *instJ, before bool) {
	if after := s.badOf(in); after != before {
		if after {
			s.bad++
		} else {
			s.bad--
		}
	}
}

func (j *Journal) endInterval(s *setJournal, in *instJ, id int, t int64) {
	j.leaveRegion(s, in, id)
	in.flags &^= fInflight | fRollbackIv
	s.inflight--
	if s.inflight == 0 {
		s.pendingEnd, s.settleAt = t, t
	}
}

func (j *Journal) enqueue(from int64, set uint16, idx int32) {
	if n := len(j.queue); n > j.qHead && j.queue[n-1].from == from && j.queue[n-1].set == set && j.queue[n-1].step == j.step {
		j.idxs = append(j.idxs, idx)
		j.queue[n-1].end++
		return
	}
	if j.iHead > 1<<16 && j.iHead > len(j.idxs)/2 {
		// Drop what was consumed; the runs left shift down.
		n := copy(j.idxs, j.idxs[j.iHead:])
		for k := j.qHead; k < len(j.queue); k++ {
			j.queue[k].end -= int32(j.iHead)
		}
		j.idxs, j.iHead = j.idxs[:n], 0
	}
	j.idxs = append(j.idxs, idx)
	j.queue = append(j.queue, expiryRun{from: from, set: set, step: j.step, end: int32(len(j.idxs))})
}

// expire ends the upgrades whose wait is over by t (inclusive: at t
// itself). An entry whose instance was reimaged again since, or whose
// upgrade ended earlier, is stale: its since differs or it is not in flight.
func (j *Journal) expire(t int64, inclusive bool) {
	d := int64(j.deadline)
	for j.qHead < len(j.queue) {
		run := j.queue[j.qHead]
		end := run.from + d
		if end > t || (!inclusive && end == t) || (run.step == j.step && j.Lag > 0) {
			break // not yet; or the step that made it is still under way, slowed
		}
		s := j.order[run.set]
		for ; j.iHead < int(run.end); j.iHead++ {
			id := int(j.idxs[j.iHead])
			in := &s.inst[id]
			if in.flags&fInflight != 0 && in.since == run.from {
				before := s.badOf(in)
				j.endInterval(s, in, id, end)
				s.setBad(in, before)
				if s.inflight == 0 {
					// A wait that ran out by the journal's early deadline:
					// the instance may still turn healthy in time.
					s.settleAt = end + 2*int64(j.slack)
				}
			}
		}
		j.qHead++
	}
	if j.qHead == len(j.queue) {
		j.queue, j.qHead, j.idxs, j.iHead = j.queue[:0], 0, j.idxs[:0], 0
	}
}

// Finish closes the record at the end of the run.
func (j *Journal) Finish(at time.Time) {
	t := at.UnixNano()
	j.expire(t, true)
	for _, s := range j.order {
		j.settle(s, t, true)
	}
}

func (j *Journal) log(e JournalEvent) {
	if len(j.Events) < MaxJournalEvents {
		j.Events = append(j.Events, e)
		return
	}
	j.EventsDropped++
}
