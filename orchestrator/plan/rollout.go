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
// it is a plain state machine: Next advances it from an observation and says
// what to do; the caller does it. It is not safe for concurrent use.
type Rollout struct {
	Policy  Policy
	Target  Image
	Zones   []string
	Manual  bool // R-TRIG-3: manual rollouts never roll back
	Created time.Time

	Status       Status
	ErrorCode    string
	ErrorMessage string
	StartTime    time.Time
	EndTime      time.Time

	Order    []int32   // instance indexes in upgrade order
	Outcomes []Outcome // by position in Order
	// ByInstance is Outcomes again, by instance index, so that R-STOP-1
	// reads the fleet in order.
	ByInstance []Outcome
	Batches    []Batch
	Records    []BatchRecord // the batches that started
	Current    int           // index into Batches of the batch in progress or next; len(Batches) when done
	InBatch    bool
	Members    []Member
	// PauseUntil holds the next batch back (pauseTimeBetweenBatches).
	PauseUntil      time.Time
	CancelRequested bool
	Planned         bool // the batches are cut (at the first Next)
	// Mutations are planted bugs, for the invariant checker's self-test
	// only (mutation.go); never persisted.
	Mutations Mutations `json:"-"`
}

// NewRollout creates a rollout to target. It plans nothing until the first
// Next, which sees the fleet.
func NewRollout(p Policy, target Image, zones []string, manual bool, now time.Time) (*Rollout, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if target.Version == "" {
		return nil, fmt.Errorf("rollout target %q has no version", target.Ref)
	}
	return &Rollout{Policy: p, Target: target, Zones: zones, Manual: manual, Created: now, Status: StatusRollingForward}, nil
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
type Decision struct {
	Reimages []Reimage
	Events   []Event
	// WakeAt is the latest time Next must be called again; zero when the
	// rollout is over.
	WakeAt time.Time
}

// Cancel asks the rollout to start no new batch (R-TRIG-4). The batch in
// progress finishes, then the status becomes Cancelled.
func (r *Rollout) Cancel() { r.CancelRequested = true }

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
		k, ok := next, next < len(r.Members) && int(r.Members[next].Index) == mk.Index
		if !ok {
			if pos == nil {
				pos = make(map[int]int, len(r.Members))
				for i := range r.Members {
					pos[int(r.Members[i].Index)] = i
				}
			}
			k, ok = pos[mk.Index]
		}
		if !ok {
			continue // not a member of the batch in progress
		}
		next = k + 1
		if m := &r.Members[k]; m.Phase != PhaseDone && mk.At.After(m.Since) {
			m.Since = mk.At
		}
	}
}

// EarliestDeadline is when the first open member of the batch in progress
// runs out of its wait; zero outside a batch.
func (r *Rollout) EarliestDeadline() time.Time {
	var t time.Time
	for i := range r.Members {
		m := &r.Members[i]
		if d := m.Since.Add(HealthTimeout); m.Phase != PhaseDone && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	return t
}

// Next advances the rollout to obs.Now and returns what to do.
func (r *Rollout) Next(obs Observation) Decision {
	var d Decision
	if r.Status.Terminal() {
		return d
	}
	now := obs.Now
	if !r.Planned {
		if msg, ok := r.precheck(obs); !ok && !r.Mutations.Has(MutSkipPrecheck) {
			// R-PRE-1: more than the allowed share unhealthy, nothing starts.
			r.finish(&d, now, StatusNotStarted, CodePrecheckUnhealthy, msg)
			return d
		}
		batchSize := BatchSize(len(obs.Instances), r.Policy.MaxBatchInstancePercent)
		if r.Mutations.Has(MutBatch25) {
			batchSize = BatchSize(len(obs.Instances), 25)
		}
		r.Order, r.Batches = planBatches(obs.Instances, r.Zones, r.Target.Version, batchSize, r.Policy.PrioritizeUnhealthyInstances, r.Policy.HealthMode, r.Mutations)
		r.Outcomes = make([]Outcome, len(r.Order))
		r.ByInstance = make([]Outcome, len(obs.Instances))
		r.Planned = true
		r.StartTime = now
		d.Events = append(d.Events, Event{Kind: EventRolloutStarted, Time: now})
		r.startNextBatch(&d, obs)
		return d
	}
	if r.InBatch {
		r.advanceBatch(&d, obs)
		if r.InBatch || r.Status.Terminal() {
			return d
		}
	}
	if now.Before(r.PauseUntil) && !r.CancelRequested {
		d.WakeAt = r.PauseUntil
		return d
	}
	r.startNextBatch(&d, obs)
	return d
}

// precheck is R-PRE-1.
func (r *Rollout) precheck(obs Observation) (string, bool) {
	n := len(obs.Instances)
	bad := CountUnhealthy(obs.Instances, r.Policy.HealthMode)
	if Exceeds(bad, n, r.Policy.MaxUnhealthyInstancePercent) {
		return fmt.Sprintf("%v: %d of %d instances unhealthy before the rollout, more than %d%%", ErrPrecheckUnhealthy, bad, n, r.Policy.MaxUnhealthyInstancePercent), false
	}
	return "", true
}

// setGate is R-STOP-2: the whole set is checked again before every batch
// after the first.
func (r *Rollout) setGate(obs Observation) (string, bool) {
	if r.Current == 0 || r.Mutations.Has(MutIgnoreStopAfterBatch) {
		return "", true
	}
	n := len(obs.Instances)
	bad := CountUnhealthy(obs.Instances, r.Policy.HealthMode)
	if Exceeds(bad, n, r.Policy.MaxUnhealthyInstancePercent) {
		return fmt.Sprintf("%v: %d of %d instances unhealthy before batch %d, more than %d%%", ErrSetUnhealthy, bad, n, r.Current+1, r.Policy.MaxUnhealthyInstancePercent), false
	}
	return "", true
}

// upgradedGate is R-STOP-1: of the instances upgraded so far, the ones that
// failed plus the ones that succeeded and are unhealthy now. One sequential
// pass over the fleet.
func (r *Rollout) upgradedGate(obs Observation, upgraded int) (string, bool) {
	if upgraded == 0 || r.Mutations.Has(MutIgnoreUpgradedUnhealthy) {
		return "", true
	}
	succeeded, relapsed := 0, 0
	for i, o := range r.ByInstance {
		if o == OutcomeSucceeded {
			succeeded++
			if CountsUnhealthy(&obs.Instances[i], r.Policy.HealthMode) {
				relapsed++
			}
		}
	}
	bad := upgraded - succeeded + relapsed
	if Exceeds(bad, upgraded, r.Policy.MaxUnhealthyUpgradedInstancePercent) {
		return fmt.Sprintf("%v: %d of %d upgraded instances unhealthy, more than %d%%", ErrUpgradedUnhealthy, bad, upgraded, r.Policy.MaxUnhealthyUpgradedInstancePercent), false
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
	var d Decision
	if !r.InBatch || len(unmade) != len(r.Members) || len(r.Records) == 0 {
		return d
	}
	for i := range r.Members {
		if r.Members[i].Phase != PhaseUpgrading || int(r.Members[i].Index) != unmade[i] {
			return d
		}
	}
	b := r.Batches[r.Current]
	msg, ok, status, code := "", true, StatusFaulted, ""
	if r.Current == 0 {
		if !r.Mutations.Has(MutSkipPrecheck) {
			msg, ok = r.precheck(obs)
		}
		status, code = StatusNotStarted, CodePrecheckUnhealthy
	} else if msg, ok = r.upgradedGate(obs, int(b.From)); !ok {
		code = CodeUpgradedUnhealthy
	} else if msg, ok = r.setGate(obs); !ok {
		code = CodeSetUnhealthy
	}
	if ok {
		return d
	}
	r.InBatch = false
	r.Members = nil
	r.Records = r.Records[:len(r.Records)-1]
	r.finish(&d, obs.Now, status, code, msg)
	return d
}

// startNextBatch starts batch r.Current, or ends the rollout.
func (r *Rollout) startNextBatch(d *Decision, obs Observation) {
	now := obs.Now
	// R-TRIG-4: a cancel is honoured even when it came during the last
	// batch; the batch finished, the rollout reads Cancelled.
	if r.CancelRequested {
		r.finish(d, now, StatusCancelled, "", "the rollout was cancelled")
		return
	}
	if r.Current >= len(r.Batches) {
		r.finish(d, now, StatusCompleted, "", "")
		return
	}
	if msg, ok := r.setGate(obs); !ok {
		r.finish(d, now, StatusFaulted, CodeSetUnhealthy, msg)
		return
	}
	b := r.Batches[r.Current]
	if obs.Admit != nil && !obs.Admit(b) && !r.Mutations.Has(MutRegionZonesTogether) {
		return // held: no wake time, the caller steps it when admitted
	}
	r.InBatch = true
	r.Records = append(r.Records, BatchRecord{Batch: b, StartTime: now})
	d.Events = append(d.Events, Event{Kind: EventBatchStarted, Batch: r.Current + 1, Time: now})
	r.Members = make([]Member, 0, b.Len())
	d.Reimages = make([]Reimage, 0, b.Len())
	for pos := b.From; pos < b.To; pos++ {
		idx := r.Order[pos]
		r.Members = append(r.Members, Member{Index: idx, Phase: PhaseUpgrading, Since: now, PrevVersion: obs.Instances[idx].Version})
		d.Reimages = append(d.Reimages, Reimage{Index: int(idx), Image: r.Target})
	}
	d.WakeAt = now.Add(HealthTimeout)
}

// advanceBatch applies R-HEALTH-1/2 and R-ROLLBACK-1 to the batch in
// progress, and closes it with R-STOP-1 when every member is settled.
func (r *Rollout) advanceBatch(d *Decision, obs Observation) {
	now := obs.Now
	b := r.Batches[r.Current]
	mode := r.Policy.HealthMode
	rollback := !r.Manual && !r.Policy.DisableAutomaticRollback && !r.Mutations.Has(MutSkipRollback)
	var wake time.Time
	open := 0
	for i := range r.Members {
		m := &r.Members[i]
		in := &obs.Instances[m.Index]
		pos := b.From + int32(i)
		deadline := m.Since.Add(HealthTimeout)
		switch m.Phase {
		case PhaseUpgrading:
			switch {
			case HealthyOn(in, r.Target.Version, mode):
				m.Phase = PhaseDone
				r.settle(pos, m.Index, OutcomeSucceeded)
			case failedOn(in, r.Target.Version) || !now.Before(deadline):
				if rollback && m.PrevVersion != r.Target.Version {
					// R-ROLLBACK-1: the previous OS disk comes back.
					m.Phase, m.Since = PhaseRollingBack, now
					d.Reimages = append(d.Reimages, Reimage{Index: int(m.Index), Image: Image{Ref: r.Target.Ref, Version: m.PrevVersion}, Rollback: true})
					d.Events = append(d.Events, Event{Kind: EventRollbackStarted, Batch: r.Current + 1, Instance: int(m.Index), Time: now})
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
	r.InBatch = false
	r.Members = nil
	r.Records[len(r.Records)-1].EndTime = now
	d.Events = append(d.Events, Event{Kind: EventBatchFinished, Batch: r.Current + 1, Time: now})
	r.Current++

	if msg, ok := r.upgradedGate(obs, int(b.To)); !ok {
		r.finish(d, now, StatusFaulted, CodeUpgradedUnhealthy, msg)
		return
	}
	if r.Current < len(r.Batches) && r.Policy.PauseTimeBetweenBatches > 0 && !r.CancelRequested {
		r.PauseUntil = now.Add(r.Policy.PauseTimeBetweenBatches)
	}
}

// settle records what became of the instance at position pos.
func (r *Rollout) settle(pos, index int32, o Outcome) {
	r.Outcomes[pos] = o
	r.ByInstance[index] = o
}

func (r *Rollout) finish(d *Decision, now time.Time, s Status, code, msg string) {
	r.Status, r.ErrorCode, r.ErrorMessage = s, code, msg
	r.InBatch = false
	r.Members = nil
	if r.StartTime.IsZero() {
		r.StartTime = now
	}
	r.EndTime = now
	d.Events = append(d.Events, Event{Kind: EventRolloutFinished, Time: now})
	d.WakeAt = time.Time{}
}

// Err returns the gate error a stopped rollout carries, for errors.Is.
func (r *Rollout) Err() error {
	switch r.ErrorCode {
	case CodePrecheckUnhealthy:
		return fmt.Errorf("%w: %s", ErrPrecheckUnhealthy, r.ErrorMessage)
	case CodeSetUnhealthy:
		return fmt.Errorf("%w: %s", ErrSetUnhealthy, r.ErrorMessage)
	case CodeUpgradedUnhealthy:
		return fmt.Errorf("%w: %s", ErrUpgradedUnhealthy, r.ErrorMessage)
	}
	return nil
}

// Progress counts the rollout's instances, Azure's progress shape.
func (r *Rollout) Progress() Counts {
	var c Counts
	for pos, o := range r.Outcomes {
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
			if r.InBatch && int32(pos) >= r.Batches[r.Current].From && int32(pos) < r.Batches[r.Current].To {
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
	for _, b := range r.Records {
		m = max(m, b.Len())
	}
	return m
}
