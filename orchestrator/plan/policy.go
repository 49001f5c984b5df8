package plan

import (
	"errors"
	"fmt"
	"time"
)

// RollingUpgradePolicy is a scale set's rolling upgrade policy, Azure's
// knobs under ARM's names: the one type the model holds, that scenario
// files and the API map to, and that the planner runs under (inside
// Policy). Its ranges are checked in one place, Validate. The zero value is
// not valid; start from DefaultRollingUpgradePolicy.
type RollingUpgradePolicy struct {
	MaxBatchInstancePercent             int           `json:"maxBatchInstancePercent"`             // 5..100, default 20 (R-BATCH-1)
	MaxUnhealthyInstancePercent         int           `json:"maxUnhealthyInstancePercent"`         // 5..100, default 20 (R-PRE-1, R-STOP-2)
	MaxUnhealthyUpgradedInstancePercent int           `json:"maxUnhealthyUpgradedInstancePercent"` // 0..100, default 20 (R-STOP-1)
	PauseTimeBetweenBatches             time.Duration `json:"pauseTimeBetweenBatches"`             // 0..MaxPauseTimeBetweenBatches, default 0
	PrioritizeUnhealthyInstances        bool          `json:"prioritizeUnhealthyInstances"`        // R-ORDER-1
}

// DefaultRollingUpgradePolicy holds Azure's defaults: the automatic OS
// upgrade's 20% gates and no pause.
func DefaultRollingUpgradePolicy() RollingUpgradePolicy {
	return RollingUpgradePolicy{
		MaxBatchInstancePercent:             20,
		MaxUnhealthyInstancePercent:         20,
		MaxUnhealthyUpgradedInstancePercent: 20,
	}
}

// MaxPauseTimeBetweenBatches bounds pauseTimeBetweenBatches. ARM documents
// no maximum; a day between batches is far beyond any real policy, and the
// bound keeps a rollout's schedule (batches × pause) far from overflowing.
const MaxPauseTimeBetweenBatches = 24 * time.Hour

// Validate checks the knobs against Azure's ranges (SPEC's reference
// values). It is the only range check of the policy: the API, the model's
// validation and the scenario parser all call it, and turn the
// PolicyError's Field (ARM's name) into their own path.
func (p RollingUpgradePolicy) Validate() error {
	check := func(field string, v, lo, hi int) error {
		if v < lo || v > hi {
			return &PolicyError{Field: field, Message: fmt.Sprintf("is %d, want %d to %d", v, lo, hi)}
		}
		return nil
	}
	if err := check("maxBatchInstancePercent", p.MaxBatchInstancePercent, 5, 100); err != nil {
		return err
	}
	if err := check("maxUnhealthyInstancePercent", p.MaxUnhealthyInstancePercent, 5, 100); err != nil {
		return err
	}
	if err := check("maxUnhealthyUpgradedInstancePercent", p.MaxUnhealthyUpgradedInstancePercent, 0, 100); err != nil {
		return err
	}
	if p.PauseTimeBetweenBatches < 0 || p.PauseTimeBetweenBatches > MaxPauseTimeBetweenBatches {
		return &PolicyError{Field: "pauseTimeBetweenBatches", Message: fmt.Sprintf("is %s, want 0 to %s", p.PauseTimeBetweenBatches, MaxPauseTimeBetweenBatches)}
	}
	return nil
}

// Policy is what a rollout runs under: the scale set's rolling upgrade
// policy and the two model settings the planner also obeys. The zero value
// is not valid; start from DefaultPolicy.
type Policy struct {
	RollingUpgradePolicy
	DisableAutomaticRollback bool       // R-ROLLBACK-1
	HealthMode               HealthMode // R-HEALTH-1, R-HEALTH-2
}

// DefaultPolicy is the automatic OS upgrade's policy: the 20% gates.
func DefaultPolicy() Policy {
	return Policy{RollingUpgradePolicy: DefaultRollingUpgradePolicy()}
}

// ErrInvalidPolicy wraps every policy validation error.
var ErrInvalidPolicy = errors.New("invalid rolling upgrade policy")

// PolicyError names the knob that is out of range, by ARM's name.
type PolicyError struct {
	Field   string
	Message string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("%v: %s %s", ErrInvalidPolicy, e.Field, e.Message)
}

func (e *PolicyError) Is(target error) bool { return target == ErrInvalidPolicy }

// Validate checks the rolling upgrade policy's ranges and the health mode;
// the error names the field.
func (p Policy) Validate() error {
	if err := p.RollingUpgradePolicy.Validate(); err != nil {
		return err
	}
	if p.HealthMode > HealthNone {
		return &PolicyError{Field: "healthMode", Message: fmt.Sprintf("is %s", p.HealthMode)}
	}
	return nil
}

// BatchSize is the largest batch a scale set of n instances may upgrade at
// once: pct% of n, rounded down, and at least one (R-BATCH-1).
//
// Worked cases at pct=20: 0 -> 0, 1 -> 1, 5 -> 1, 9 -> 1, 10 -> 2, 14 -> 2,
// 15 -> 3, 99 -> 19, 100 -> 20, 101 -> 20. Sets of five or fewer go one
// instance per batch.
func BatchSize(n, pct int) int {
	if n <= 0 {
		return 0
	}
	return max(1, n*pct/100)
}

// Exceeds reports whether x out of n is strictly more than pct percent, in
// integers: "more than 20% of N" is 5*x > N, never a float comparison.
func Exceeds(x, n, pct int) bool {
	return 100*x > pct*n
}
