package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Snapshot is a rollout's state for persistence: plain data, sharing no
// memory with the rollout it was taken of. Its JSON names are the ones the
// release before the state was sealed wrote for Rollout itself, so that a
// data directory it wrote still resumes (orchestrator/api/testdata/state-v1):
// fields may be added, never renamed.
type Snapshot struct {
	Policy  PolicySnapshot `json:"Policy"`
	Target  Image          `json:"Target"`
	Zones   []string       `json:"Zones"`
	Manual  bool           `json:"Manual"`
	Created time.Time      `json:"Created"`

	Status       Status    `json:"Status"`
	ErrorCode    string    `json:"ErrorCode"`
	ErrorMessage string    `json:"ErrorMessage"`
	StartTime    time.Time `json:"StartTime"`
	EndTime      time.Time `json:"EndTime"`

	Order      []int32       `json:"Order"`      // instance indexes in upgrade order
	Outcomes   []Outcome     `json:"Outcomes"`   // by position in Order
	ByInstance []Outcome     `json:"ByInstance"` // by instance index
	Batches    []Batch       `json:"Batches"`
	Records    []BatchRecord `json:"Records"` // the batches that started
	// Current indexes Batches: the batch in progress or next.
	Current         int       `json:"Current"`
	InBatch         bool      `json:"InBatch"`
	Members         []Member  `json:"Members"` // of the batch in progress
	PauseUntil      time.Time `json:"PauseUntil"`
	CancelRequested bool      `json:"CancelRequested"`
	Planned         bool      `json:"Planned"`
}

// PolicySnapshot is the policy as a Snapshot stores it, with the names the
// previous release wrote: the policy's own type may change shape, the
// stored one does not.
type PolicySnapshot struct {
	MaxBatchInstancePercent             int           `json:"MaxBatchInstancePercent"`
	MaxUnhealthyInstancePercent         int           `json:"MaxUnhealthyInstancePercent"`
	MaxUnhealthyUpgradedInstancePercent int           `json:"MaxUnhealthyUpgradedInstancePercent"`
	PauseTimeBetweenBatches             time.Duration `json:"PauseTimeBetweenBatches"`
	PrioritizeUnhealthyInstances        bool          `json:"PrioritizeUnhealthyInstances"`
	DisableAutomaticRollback            bool          `json:"DisableAutomaticRollback"`
	HealthMode                          uint8         `json:"HealthMode"`
}

// Snapshot is the rollout's state, for the store.
func (r *Rollout) Snapshot() Snapshot {
	s := r.snapshot()
	s.Zones, s.Order, s.Outcomes, s.ByInstance = slices.Clone(s.Zones), slices.Clone(s.Order), slices.Clone(s.Outcomes), slices.Clone(s.ByInstance)
	s.Batches, s.Records, s.Members = slices.Clone(s.Batches), slices.Clone(s.Records), slices.Clone(s.Members)
	return s
}

// snapshot is Snapshot sharing the rollout's slices: for encoding at once
// (a 10^6-instance rollout is saved at every decision).
func (r *Rollout) snapshot() Snapshot {
	p := r.policy
	return Snapshot{
		Policy: PolicySnapshot{
			MaxBatchInstancePercent:             p.MaxBatchInstancePercent,
			MaxUnhealthyInstancePercent:         p.MaxUnhealthyInstancePercent,
			MaxUnhealthyUpgradedInstancePercent: p.MaxUnhealthyUpgradedInstancePercent,
			PauseTimeBetweenBatches:             p.PauseTimeBetweenBatches,
			PrioritizeUnhealthyInstances:        p.PrioritizeUnhealthyInstances,
			DisableAutomaticRollback:            p.DisableAutomaticRollback,
			HealthMode:                          uint8(p.HealthMode),
		},
		Target: r.target, Zones: r.zones, Manual: r.manual, Created: r.created,
		Status: r.status, ErrorCode: r.errorCode, ErrorMessage: r.errorMessage, StartTime: r.startTime, EndTime: r.endTime,
		Order: r.order, Outcomes: r.outcomes, ByInstance: r.byInstance,
		Batches: r.batches, Records: r.records, Current: r.current, InBatch: r.inBatch,
		Members: r.members, PauseUntil: r.pauseUntil, CancelRequested: r.cancelRequested, Planned: r.planned,
	}
}

// Restore makes a rollout from a snapshot, after checking that the snapshot
// holds together (a damaged record is refused with an error, never a
// panic at its first Next). The rollout shares no memory with s.
func Restore(s Snapshot, opts ...Option) (*Rollout, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("rollout snapshot: %w", err)
	}
	sp := s.Policy
	r := &Rollout{
		policy: Policy{
			RollingUpgradePolicy: RollingUpgradePolicy{
				MaxBatchInstancePercent:             sp.MaxBatchInstancePercent,
				MaxUnhealthyInstancePercent:         sp.MaxUnhealthyInstancePercent,
				MaxUnhealthyUpgradedInstancePercent: sp.MaxUnhealthyUpgradedInstancePercent,
				PauseTimeBetweenBatches:             sp.PauseTimeBetweenBatches,
				PrioritizeUnhealthyInstances:        sp.PrioritizeUnhealthyInstances,
			},
			DisableAutomaticRollback: sp.DisableAutomaticRollback,
			HealthMode:               HealthMode(sp.HealthMode),
		},
		target: s.Target, zones: slices.Clone(s.Zones), manual: s.Manual, created: s.Created,
		status: s.Status, errorCode: s.ErrorCode, errorMessage: s.ErrorMessage, startTime: s.StartTime, endTime: s.EndTime,
		order: slices.Clone(s.Order), outcomes: slices.Clone(s.Outcomes), byInstance: slices.Clone(s.ByInstance),
		batches: slices.Clone(s.Batches), records: slices.Clone(s.Records), current: s.Current, inBatch: s.InBatch,
		members: slices.Clone(s.Members), pauseUntil: s.PauseUntil, cancelRequested: s.CancelRequested, planned: s.Planned,
	}
	if err := r.policy.Validate(); err != nil {
		return nil, fmt.Errorf("rollout snapshot: %w", err)
	}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// check is what Next relies on: indexes within their slices.
func (s *Snapshot) check() error {
	switch s.Status {
	case StatusRollingForward, StatusCompleted, StatusFaulted, StatusCancelled, StatusNotStarted:
	default:
		return fmt.Errorf("Status %q is not a rollout status", s.Status)
	}
	if s.Target.Version == "" {
		return fmt.Errorf("Target %q has no version", s.Target.Ref)
	}
	if !s.Planned {
		if len(s.Order)+len(s.Batches)+len(s.Records)+len(s.Members) > 0 || s.InBatch {
			return fmt.Errorf("not Planned, yet it holds batches")
		}
		return nil
	}
	n := len(s.ByInstance)
	if len(s.Outcomes) != len(s.Order) {
		return fmt.Errorf("%d Outcomes for %d instances in Order", len(s.Outcomes), len(s.Order))
	}
	for _, idx := range s.Order {
		if idx < 0 || int(idx) >= n {
			return fmt.Errorf("Order holds instance %d of %d", idx, n)
		}
	}
	for k, b := range s.Batches {
		if b.From < 0 || b.From > b.To || int(b.To) > len(s.Order) {
			return fmt.Errorf("Batches[%d] covers positions %d to %d of %d", k, b.From, b.To, len(s.Order))
		}
	}
	if s.Current < 0 || s.Current > len(s.Batches) {
		return fmt.Errorf("Current is %d of %d batches", s.Current, len(s.Batches))
	}
	if len(s.Records) > len(s.Batches) {
		return fmt.Errorf("%d Records of %d batches", len(s.Records), len(s.Batches))
	}
	if s.InBatch {
		if s.Current == len(s.Batches) || len(s.Records) == 0 {
			return fmt.Errorf("InBatch with batch %d of %d and %d started", s.Current, len(s.Batches), len(s.Records))
		}
		if b := s.Batches[s.Current]; len(s.Members) != b.Len() {
			return fmt.Errorf("%d Members for a batch of %d", len(s.Members), b.Len())
		}
	} else if len(s.Members) > 0 {
		return fmt.Errorf("%d Members outside a batch", len(s.Members))
	}
	for _, m := range s.Members {
		if m.Index < 0 || int(m.Index) >= n || m.Phase > PhaseDone {
			return fmt.Errorf("member %d (phase %d) of %d instances", m.Index, m.Phase, n)
		}
	}
	return nil
}

// MarshalJSON stores the rollout as its Snapshot.
func (r *Rollout) MarshalJSON() ([]byte, error) { return json.Marshal(r.snapshot()) }

// UnmarshalJSON restores the rollout from a Snapshot, with no options:
// whoever needs them (planted bugs) restores it again with them.
func (r *Rollout) UnmarshalJSON(b []byte) error {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	got, err := Restore(s)
	if err != nil {
		return err
	}
	*r = *got
	return nil
}
