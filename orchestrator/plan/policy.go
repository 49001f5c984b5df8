package plan

import (
	"errors"
	"fmt"
	"time"
)

// Policy is the rolling-upgrade policy a rollout runs under. The zero value is
// not valid; start from DefaultPolicy.
type Policy struct {
	MaxBatchInstancePercent             int           // 5..100, default 20 (R-BATCH-1)
	MaxUnhealthyInstancePercent         int           // 5..100, default 20 (R-PRE-1, R-STOP-2)
	MaxUnhealthyUpgradedInstancePercent int           // 0..100, default 20 (R-STOP-1)
	PauseTimeBetweenBatches             time.Duration // default 0
	PrioritizeUnhealthyInstances        bool          // R-ORDER-1
	DisableAutomaticRollback            bool          // R-ROLLBACK-1
	HealthMode                          HealthMode    // R-HEALTH-1, R-HEALTH-2
}

// DefaultPolicy is the automatic OS upgrade's policy: the 20% gates.
func DefaultPolicy() Policy {
	return Policy{
		MaxBatchInstancePercent:             20,
		MaxUnhealthyInstancePercent:         20,
		MaxUnhealthyUpgradedInstancePercent: 20,
	}
}

// ErrInvalidPolicy wraps every policy validation error.
var ErrInvalidPolicy = errors.New("invalid rolling upgrade policy")

// PolicyError names the knob that is out of range.
type PolicyError struct {
	Field   string
	Message string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("%v: %s %s", ErrInvalidPolicy, e.Field, e.Message)
}

func (e *PolicyError) Is(target error) bool { return target == ErrInvalidPolicy }

// Validate checks the knobs against Azure's ranges; the error names the field.
func (p Policy) Validate() error {
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
	if p.PauseTimeBetweenBatches < 0 {
		return &PolicyError{Field: "pauseTimeBetweenBatches", Message: fmt.Sprintf("is %s, want 0 or more", p.PauseTimeBetweenBatches)}
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
