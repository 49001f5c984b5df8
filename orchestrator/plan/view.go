package plan

import (
	"iter"
	"slices"
	"time"
)

// The read-only view of a rollout, for the runner, the API, metrics and the
// harness. Nothing here changes the rollout, and no slice it returns is the
// rollout's own.

// Policy is the policy the rollout runs under.
func (r *Rollout) Policy() Policy { return r.policy }

// Target is the image the rollout upgrades to.
func (r *Rollout) Target() Image { return r.target }

// Zones are the scale set's zones in the order the rollout visits them.
func (r *Rollout) Zones() []string { return slices.Clone(r.zones) }

// Manual reports a rollout a user started: it never rolls back (R-TRIG-3).
func (r *Rollout) Manual() bool { return r.manual }

// Created is when the rollout was created.
func (r *Rollout) Created() time.Time { return r.created }

// Status is the rollout's running status.
func (r *Rollout) Status() Status { return r.status }

// ErrorCode is Azure's code of a stopped rollout; empty otherwise.
func (r *Rollout) ErrorCode() string { return r.errorCode }

// ErrorMessage says why the rollout stopped, with its numbers.
func (r *Rollout) ErrorMessage() string { return r.errorMessage }

// StartTime is when the first batch was planned; zero before.
func (r *Rollout) StartTime() time.Time { return r.startTime }

// EndTime is when the rollout ended; zero while it runs.
func (r *Rollout) EndTime() time.Time { return r.endTime }

// Planned reports that the batches are cut (at the first Next).
func (r *Rollout) Planned() bool { return r.planned }

// InBatch reports a batch in progress.
func (r *Rollout) InBatch() bool { return r.inBatch }

// CancelRequested reports that Cancel was called.
func (r *Rollout) CancelRequested() bool { return r.cancelRequested }

// BatchesStarted is the number of batches that started.
func (r *Rollout) BatchesStarted() int { return len(r.records) }

// Records are the batches that started, in order.
func (r *Rollout) Records() []BatchRecord { return slices.Clone(r.records) }

// Record is the batch that started n-th (from 1); ok is false when fewer
// started. A reader of one batch (metrics, at each batch event) copies
// one record, not the whole list.
func (r *Rollout) Record(n int) (b BatchRecord, ok bool) {
	if n < 1 || n > len(r.records) {
		return BatchRecord{}, false
	}
	return r.records[n-1], true
}

// InstanceAt is the instance at position pos of the upgrade order: a
// BatchRecord's instances are InstanceAt(From) … InstanceAt(To-1).
func (r *Rollout) InstanceAt(pos int32) int { return int(r.order[pos]) }

// Outcomes yields each instance of the upgrade order with what became of
// it, in that order.
func (r *Rollout) Outcomes() iter.Seq2[int, Outcome] {
	return func(yield func(int, Outcome) bool) {
		for pos, o := range r.outcomes {
			if !yield(int(r.order[pos]), o) {
				return
			}
		}
	}
}

// Current is the batch the rollout is at (in flight, or the next to start)
// and its number from 1; ok is false once it is past the last batch.
func (r *Rollout) Current() (b Batch, number int, ok bool) {
	if r.current < 0 || r.current >= len(r.batches) {
		return Batch{}, r.current + 1, false
	}
	return r.batches[r.current], r.current + 1, true
}
