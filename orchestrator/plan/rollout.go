package plan

import (
	"errors"
	"fmt"
	"time"
)

// Gate errors: a stopped rollout carries one of these, with its numbers.
var (
	ErrPrecheckUnhealthy = errors.New(CodePrecheckUnhealthy)
	ErrSetUnhealthy      = errors.New(CodeSetUnhealthy)
	ErrUpgradedUnhealthy = errors.New(CodeUpgradedUnhealthy)
)

// Outcome is what became of one instance of the rollout.
type Outcome uint8

const (
	OutcomePending        Outcome = iota // not yet upgraded, or upgrading
	OutcomeSucceeded                     // healthy on the target version
	OutcomeFailed                        // not healthy in time, no rollback (manual or rollback disabled)
	OutcomeRolledBack                    // not healthy in time, back on its previous version and healthy
	OutcomeRollbackFailed                // not healthy in time, and not healthy after the rollback either
)

// Phase is where an instance of the current batch stands.
type Phase uint8

const (
	PhaseUpgrading   Phase = iota // reimaged to the target, waiting for health
	PhaseRollingBack              // reimaged back to its previous version, waiting for health
	PhaseDone
)

// Member is one instance of the batch in progress.
type Member struct {
	Index       int32     // instance index (== ID)
	Phase       Phase     // where it stands
	Since       time.Time // when its current reimage was decided, or made if later (ReimagesMade)
	PrevVersion string    // what a rollback restores
}

// BatchRecord is a batch that started, for history and results.
type BatchRecord struct {
	Batch
	StartTime, EndTime time.Time // EndTime zero while running
}

// Counts are the rollout's progress, Azure's shape.
type Counts struct {
	Successful, Failed, InProgress, Pending int
	RolledBack, RollbackFailed              int
}

// Rollout is the state of one rollout of one scale set. Like raft's RawNode
// it is a plain state machine that owns its state: Next advances it from an
// observation and returns a Decision that carries every change the caller
// must act on or journal (reimages, events, the status); the caller does it.
// Readers use the accessor methods (view.go), persistence the Snapshot
// (snapshot.go); nothing outside the package writes a field. It is not safe
// for concurrent use.
type Rollout struct {
	policy  Policy
	target  Image
	zones   []string
	manual  bool // R-TRIG-3: manual rollouts never roll back
	created time.Time

	status       Status
	errorCode    string
	errorMessage string
	startTime    time.Time
	endTime      time.Time

	order    []int32   // instance indexes in upgrade order
	outcomes []Outcome // by position in order
	// byInstance is outcomes again, by instance index, so that R-STOP-1
	// reads the fleet in order.
	byInstance []Outcome
	batches    []Batch
	records    []BatchRecord // the batches that started
	current    int           // index into batches of the batch in progress or next; len(batches) when done
	inBatch    bool
	members    []Member
	// spareMembers is the storage of the last finished batch's members,
	// reused by the next batch (a 10^6-instance rollout allocated 46 MB of
	// members, one list per batch); never persisted.
	spareMembers []Member
	// pauseUntil holds the next batch back (pauseTimeBetweenBatches).
	pauseUntil      time.Time
	cancelRequested bool
	planned         bool // the batches are cut (at the first Next)

	// hooks replace parts of the rules for this rollout (hooks.go): none
	// outside tests; never persisted.
	hooks Hooks
}

// Option configures one rollout (one planner instance) at NewRollout or
// Restore.
type Option func(*Rollout)

// WithHooks makes the rollout consult h (hooks.go): tests only.
func WithHooks(h Hooks) Option { return func(r *Rollout) { r.hooks = h } }

// NewRollout creates a rollout to target. It plans nothing until the first
// Next, which sees the fleet.
func NewRollout(p Policy, target Image, zones []string, manual bool, now time.Time, opts ...Option) (*Rollout, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if target.Version == "" {
		return nil, fmt.Errorf("rollout target %q has no version", target.Ref)
	}
	r := &Rollout{policy: p, target: target, zones: zones, manual: manual, created: now, status: StatusRollingForward}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// EventKind names a rollout event; the strings are the scenario vocabulary
// of `on:` triggers.
type EventKind string

const (
	EventRolloutStarted  EventKind = "rollout started"
	EventBatchStarted    EventKind = "batch started"
	EventBatchFinished   EventKind = "batch finished"
	EventRollbackStarted EventKind = "rollback started"
	EventRolloutFinished EventKind = "rollout finished"
	// EventInstanceReimaged is emitted by the runner once a reimage is done.
	EventInstanceReimaged EventKind = "instance reimaged"
)

// Event is something that happened in the rollout. Batch is 1-based.
type Event struct {
	Kind     EventKind
	Batch    int
	Instance int
	Time     time.Time
}

func (e Event) String() string {
	switch e.Kind {
	case EventBatchStarted:
		return fmt.Sprintf("batch %d started", e.Batch)
	case EventBatchFinished:
		return fmt.Sprintf("batch %d finished", e.Batch)
	case EventInstanceReimaged:
		return fmt.Sprintf("instance %d reimaged", e.Instance)
	}
	return string(e.Kind)
}

// Reimage asks the caller to replace one instance's OS disk.
type Reimage struct {
	Index    int
	Image    Image
	Rollback bool
}

// Decision is what the caller must do now, in this order: journal it, carry
// out Reimages, then call Next again at WakeAt or when the fleet changes.
// Like raft's Ready it carries every change the step made that the caller
// acts on or records, and it is read-only to the caller.
type Decision struct {
	Reimages []Reimage
	Events   []Event
	// Status is the rollout's status once the decision is taken; when the
	// decision ends the rollout, ErrorCode and ErrorMessage say why (empty
	// for Completed and Cancelled). The caller journals them from here.
	Status       Status
	ErrorCode    string
	ErrorMessage string
	// WakeAt is the latest time Next must be called again; zero when the
	// rollout is over.
	WakeAt time.Time
}

// Cancel asks the rollout to start no new batch (R-TRIG-4). The batch in
// progress finishes, then the status becomes Cancelled.
func (r *Rollout) Cancel() { r.cancelRequested = true }

// Made is one reimage carried out: the instance, and when it began.
type Made struct {
	Index int
	At    time.Time
}

// ReimagesMade tells the rollout when each reimage of its batch was made.
// A member's 5-minute wait (R-HEALTH-1, R-ROLLBACK-1: "5 minutes after its
// upgrade") counts from its own reimage where that came later than the
// decision: a large batch reimaged a few at a time, or a decision a killed
// runner journaled and its successor carried out.
func (r *Rollout) ReimagesMade(made []Made) {
	// made lists members in the decision's order, which is the batch's:
	// walk both together, and look a member up only when out of step (a
	// map of a 200,000-instance batch cost a seventh of a simulated
	// rollout).
	var pos map[int]int // instance index → member, built when out of step
	next := 0
	for _, mk := range made {
		k, ok := next, next < len(r.members) && int(r.members[next].Index) == mk.Index
		if !ok {
			if pos == nil {
				pos = make(map[int]int, len(r.members))
				for i := range r.members {
					pos[int(r.members[i].Index)] = i
				}
			}
			k, ok = pos[mk.Index]
		}
		if !ok {
			continue // not a member of the batch in progress
		}
		next = k + 1
		if m := &r.members[k]; m.Phase != PhaseDone && mk.At.After(m.Since) {
			m.Since = mk.At
		}
	}
}

// EarliestDeadline is when the first open member of the batch in progress
// runs out of its wait; zero outside a batch.
func (r *Rollout) EarliestDeadline() time.Time {
	var t time.Time
	for i := range r.members {
		m := &r.members[i]
		if d := m.Since.Add(HealthTimeout); m.Phase != PhaseDone && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	return t
}

// Next advances the rollout to obs.Now and returns what to do.
func (r *Rollout) Next(obs Observation) Decision {
	d := r.next(obs)
	r.stamp(&d)
	return d
}

// stamp puts the status the decision leaves behind on it.
func (r *Rollout) stamp(d *Decision) {
	d.Status = r.status
	if r.status.Terminal() {
		d.ErrorCode, d.ErrorMessage = r.errorCode, r.errorMessage
	}
}

func (r *Rollout) next(obs Observation) Decision {
	var d Decision
	if r.status.Terminal() {
		return d
	}
	now := obs.Now
	if !r.planned {
		if msg, ok := r.precheck(obs); !ok {
			// R-PRE-1: more than the allowed share unhealthy, nothing starts.
			r.finish(&d, now, StatusNotStarted, CodePrecheckUnhealthy, msg)
			return d
		}
		batchSize := r.batchSize(len(obs.Instances), r.policy.MaxBatchInstancePercent)
		r.order, r.batches = planBatches(obs.Instances, r.zones, r.target.Version, batchSize, r.policy.PrioritizeUnhealthyInstances, r.policy.HealthMode, r.countsUnhealthy)
		if r.hooks.Batches != nil {
			r.order, r.batches = r.hooks.Batches(obs.Instances, r.order, r.batches, batchSize)
		}
		r.outcomes = make([]Outcome, len(r.order))
		r.byInstance = make([]Outcome, len(obs.Instances))
		r.planned = true
		r.startTime = now
		d.Events = append(d.Events, Event{Kind: EventRolloutStarted, Time: now})
		r.startNextBatch(&d, obs)
		return d
	}
	if r.inBatch {
		r.advanceBatch(&d, obs)
		if r.inBatch || r.status.Terminal() {
			return d
		}
	}
	if now.Before(r.pauseUntil) && !r.cancelRequested {
		d.WakeAt = r.pauseUntil
		return d
	}
	r.startNextBatch(&d, obs)
	return d
}

// precheck is R-PRE-1.
func (r *Rollout) precheck(obs Observation) (string, bool) {
	n := len(obs.Instances)
	bad := r.countUnhealthy(obs.Instances)
	if r.exceeds(bad, n, r.policy.MaxUnhealthyInstancePercent) {
		return fmt.Sprintf("%v: %d of %d instances unhealthy before the rollout, more than %d%%", ErrPrecheckUnhealthy, bad, n, r.policy.MaxUnhealthyInstancePercent), r.gate(GatePrecheck, false)
	}
	return "", true
}

// setGate is R-STOP-2: the whole set is checked again before every batch
// after the first.
func (r *Rollout) setGate(obs Observation) (string, bool) {
	if r.current == 0 {
		return "", true
	}
	n := len(obs.Instances)
	bad := r.countUnhealthy(obs.Instances)
	if r.exceeds(bad, n, r.policy.MaxUnhealthyInstancePercent) {
		return fmt.Sprintf("%v: %d of %d instances unhealthy before batch %d, more than %d%%", ErrSetUnhealthy, bad, n, r.current+1, r.policy.MaxUnhealthyInstancePercent), r.gate(GateSet, false)
	}
	return "", true
}

// upgradedGate is R-STOP-1: of the instances upgraded so far, the ones that
// failed plus the ones that succeeded and are unhealthy now. One sequential
// pass over the fleet.
func (r *Rollout) upgradedGate(obs Observation, upgraded int) (string, bool) {
	if upgraded == 0 {
		return "", true
	}
	succeeded, relapsed := 0, 0
	for i, o := range r.byInstance {
		if o == OutcomeSucceeded {
			succeeded++
			if r.countsUnhealthy(&obs.Instances[i], r.policy.HealthMode) {
				relapsed++
			}
		}
	}
	bad := upgraded - succeeded + relapsed
	if r.exceeds(bad, upgraded, r.policy.MaxUnhealthyUpgradedInstancePercent) {
		return fmt.Sprintf("%v: %d of %d upgraded instances unhealthy, more than %d%%", ErrUpgradedUnhealthy, bad, upgraded, r.policy.MaxUnhealthyUpgradedInstancePercent), r.gate(GateUpgraded, false)
	}
	return "", true
}

// RecheckBatchStart is for a runner that restarts and finds the start of
// the batch in progress journaled but none of its reimages made (unmade
// lists the instances): the batch has not begun, and its gates hold at the
// moment it begins, not when it was planned. It checks them again at
// obs.Now — R-PRE-1 before the first batch, R-STOP-1 and R-STOP-2 before
// the others — and when one fails it withdraws the batch and stops the
// rollout as the gate says. Otherwise it changes nothing.
func (r *Rollout) RecheckBatchStart(obs Observation, unmade []int) Decision {
	d := r.recheckBatchStart(obs, unmade)
	r.stamp(&d)
	return d
}

func (r *Rollout) recheckBatchStart(obs Observation, unmade []int) Decision {
	var d Decision
	if !r.inBatch || len(unmade) != len(r.members) || len(r.records) == 0 {
		return d
	}
	for i := range r.members {
		if r.members[i].Phase != PhaseUpgrading || int(r.members[i].Index) != unmade[i] {
			return d
		}
	}
	b := r.batches[r.current]
	msg, ok, status, code := "", true, StatusFaulted, ""
	if r.current == 0 {
		msg, ok = r.precheck(obs)
		status, code = StatusNotStarted, CodePrecheckUnhealthy
	} else if msg, ok = r.upgradedGate(obs, int(b.From)); !ok {
		code = CodeUpgradedUnhealthy
	} else if msg, ok = r.setGate(obs); !ok {
		code = CodeSetUnhealthy
	}
	if ok {
		return d
	}
	r.inBatch = false
	r.members = nil
	r.records = r.records[:len(r.records)-1]
	r.finish(&d, obs.Now, status, code, msg)
	return d
}

// startNextBatch starts batch r.current, or ends the rollout.
func (r *Rollout) startNextBatch(d *Decision, obs Observation) {
	now := obs.Now
	// R-TRIG-4: a cancel is honoured even when it came during the last
	// batch; the batch finished, the rollout reads Cancelled.
	if r.cancelRequested {
		r.finish(d, now, StatusCancelled, "", "the rollout was cancelled")
		return
	}
	if r.current >= len(r.batches) {
		r.finish(d, now, StatusCompleted, "", "")
		return
	}
	if msg, ok := r.setGate(obs); !ok {
		r.finish(d, now, StatusFaulted, CodeSetUnhealthy, msg)
		return
	}
	b := r.batches[r.current]
	if obs.Admit != nil && !r.admit(obs.Admit(b)) {
		return // held: no wake time, the caller steps it when admitted
	}
	r.inBatch = true
	r.records = append(r.records, BatchRecord{Batch: b, StartTime: now})
	d.Events = append(d.Events, Event{Kind: EventBatchStarted, Batch: r.current + 1, Time: now})
	r.members, r.spareMembers = r.spareMembers[:0], nil
	if cap(r.members) < b.Len() {
		r.members = make([]Member, 0, b.Len())
	}
	d.Reimages = make([]Reimage, 0, b.Len())
	for pos := b.From; pos < b.To; pos++ {
		idx := r.order[pos]
		r.members = append(r.members, Member{Index: idx, Phase: PhaseUpgrading, Since: now, PrevVersion: obs.Instances[idx].Version})
		d.Reimages = append(d.Reimages, Reimage{Index: int(idx), Image: r.target})
	}
	d.WakeAt = now.Add(HealthTimeout)
}

// advanceBatch applies R-HEALTH-1/2 and R-ROLLBACK-1 to the batch in
// progress, and closes it with R-STOP-1 when every member is settled.
func (r *Rollout) advanceBatch(d *Decision, obs Observation) {
	now := obs.Now
	b := r.batches[r.current]
	mode := r.policy.HealthMode
	rollback := !r.manual && !r.policy.DisableAutomaticRollback
	if r.hooks.Rollback != nil {
		rollback = r.hooks.Rollback(rollback)
	}
	var wake time.Time
	open := 0
	for i := range r.members {
		m := &r.members[i]
		in := &obs.Instances[m.Index]
		pos := b.From + int32(i)
		deadline := m.Since.Add(HealthTimeout)
		switch m.Phase {
		case PhaseUpgrading:
			switch {
			case HealthyOn(in, r.target.Version, mode):
				m.Phase = PhaseDone
				r.settle(pos, m.Index, OutcomeSucceeded)
			case failedOn(in, r.target.Version) || !now.Before(deadline):
				if rollback && m.PrevVersion != r.target.Version {
					// R-ROLLBACK-1: the previous OS disk comes back.
					m.Phase, m.Since = PhaseRollingBack, now
					d.Reimages = append(d.Reimages, Reimage{Index: int(m.Index), Image: Image{Ref: r.target.Ref, Version: m.PrevVersion}, Rollback: true})
					d.Events = append(d.Events, Event{Kind: EventRollbackStarted, Batch: r.current + 1, Instance: int(m.Index), Time: now})
					deadline = now.Add(HealthTimeout)
				} else {
					m.Phase = PhaseDone
					r.settle(pos, m.Index, OutcomeFailed)
				}
			}
		case PhaseRollingBack:
			switch {
			case HealthyOn(in, m.PrevVersion, mode):
				m.Phase = PhaseDone
				r.settle(pos, m.Index, OutcomeRolledBack)
			case failedOn(in, m.PrevVersion) || !now.Before(deadline):
				m.Phase = PhaseDone
				r.settle(pos, m.Index, OutcomeRollbackFailed)
			}
		}
		if m.Phase != PhaseDone {
			open++
			if wake.IsZero() || deadline.Before(wake) {
				wake = deadline
			}
		}
	}
	if open > 0 {
		d.WakeAt = wake
		return
	}
	// The batch is over.
	r.inBatch = false
	r.members, r.spareMembers = nil, r.members[:0]
	r.records[len(r.records)-1].EndTime = now
	d.Events = append(d.Events, Event{Kind: EventBatchFinished, Batch: r.current + 1, Time: now})
	r.current++

	if msg, ok := r.upgradedGate(obs, int(b.To)); !ok {
		r.finish(d, now, StatusFaulted, CodeUpgradedUnhealthy, msg)
		return
	}
	if r.current < len(r.batches) && r.policy.PauseTimeBetweenBatches > 0 && !r.cancelRequested {
		r.pauseUntil = now.Add(r.policy.PauseTimeBetweenBatches)
	}
}

// settle records what became of the instance at position pos.
func (r *Rollout) settle(pos, index int32, o Outcome) {
	r.outcomes[pos] = o
	r.byInstance[index] = o
}

func (r *Rollout) finish(d *Decision, now time.Time, s Status, code, msg string) {
	r.status, r.errorCode, r.errorMessage = s, code, msg
	r.inBatch = false
	r.members, r.spareMembers = nil, nil
	if r.startTime.IsZero() {
		r.startTime = now
	}
	r.endTime = now
	d.Events = append(d.Events, Event{Kind: EventRolloutFinished, Time: now})
	d.WakeAt = time.Time{}
}

// Err returns the gate error a stopped rollout carries, for errors.Is.
func (r *Rollout) Err() error {
	switch r.errorCode {
	case CodePrecheckUnhealthy:
		return fmt.Errorf("%w: %s", ErrPrecheckUnhealthy, r.errorMessage)
	case CodeSetUnhealthy:
		return fmt.Errorf("%w: %s", ErrSetUnhealthy, r.errorMessage)
	case CodeUpgradedUnhealthy:
		return fmt.Errorf("%w: %s", ErrUpgradedUnhealthy, r.errorMessage)
	}
	return nil
}

// Progress counts the rollout's instances, Azure's progress shape.
func (r *Rollout) Progress() Counts {
	var c Counts
	for pos, o := range r.outcomes {
		switch o {
		case OutcomeSucceeded:
			c.Successful++
		case OutcomeFailed:
			c.Failed++
		case OutcomeRolledBack:
			c.Failed++
			c.RolledBack++
		case OutcomeRollbackFailed:
			c.Failed++
			c.RollbackFailed++
		default:
			if r.inBatch && int32(pos) >= r.batches[r.current].From && int32(pos) < r.batches[r.current].To {
				c.InProgress++
			} else {
				c.Pending++
			}
		}
	}
	return c
}

// MaxBatchLen is the size of the largest batch that started.
func (r *Rollout) MaxBatchLen() int {
	m := 0
	for _, b := range r.records {
		m = max(m, b.Len())
	}
	return m
}
