package plan

// Hooks replace parts of the rules for one rollout: a nil hook passes
// through to the rule. They exist so that a test can plant a known bug in
// one planner (package plan/plantedbugs) and prove that the harness's
// invariant checker, which does its own arithmetic, catches it. A rollout
// gets them only from WithHooks; nothing a user reaches (scenario file, ARM
// API, flag, stored state) sets them, and they are never persisted.
type Hooks struct {
	// BatchSize replaces BatchSize (R-BATCH-1) when the batches are cut.
	BatchSize func(n, pct int) int
	// Exceeds replaces Exceeds at every health gate (R-PRE-1, R-STOP-1,
	// R-STOP-2).
	Exceeds func(x, n, pct int) bool
	// CountsUnhealthy replaces CountsUnhealthy at every health gate and
	// where unhealthy instances are put first (R-ORDER-1).
	CountsUnhealthy func(in *Instance, mode HealthMode) bool
	// Gate is told that a health gate failed and returns whether the
	// planner acts on it as passed.
	Gate func(g Gate, passed bool) bool
	// Rollback is told whether R-ROLLBACK-1 rolls a failed instance back,
	// and returns what the planner does.
	Rollback func(rollback bool) bool
	// Batches is given the upgrade order and the batches as cut (R-ORDER-1,
	// R-BATCH-2, R-AVAIL-1), with the batch size, and returns the ones the
	// rollout runs.
	Batches func(instances []Instance, order []int32, batches []Batch, batchSize int) ([]int32, []Batch)
	// Admit is told whether the fleet schedule admits the next batch
	// (R-AVAIL-1 across a region) and returns what the planner does.
	Admit func(admitted bool) bool
}

// Gate names a health gate.
type Gate uint8

const (
	GatePrecheck Gate = iota // R-PRE-1, before the first batch
	GateUpgraded             // R-STOP-1, the upgraded instances after a batch
	GateSet                  // R-STOP-2, the whole set before a later batch
)

var gateNames = [...]string{"R-PRE-1", "R-STOP-1", "R-STOP-2"}

func (g Gate) String() string {
	if int(g) < len(gateNames) {
		return gateNames[g]
	}
	return "Gate(?)"
}

func (r *Rollout) admit(admitted bool) bool {
	if r.hooks.Admit != nil {
		return r.hooks.Admit(admitted)
	}
	return admitted
}

func (r *Rollout) batchSize(n, pct int) int {
	if r.hooks.BatchSize != nil {
		return r.hooks.BatchSize(n, pct)
	}
	return BatchSize(n, pct)
}

func (r *Rollout) exceeds(x, n, pct int) bool {
	if r.hooks.Exceeds != nil {
		return r.hooks.Exceeds(x, n, pct)
	}
	return Exceeds(x, n, pct)
}

func (r *Rollout) countsUnhealthy(in *Instance, mode HealthMode) bool {
	if r.hooks.CountsUnhealthy != nil {
		return r.hooks.CountsUnhealthy(in, mode)
	}
	return CountsUnhealthy(in, mode)
}

// countUnhealthy is CountUnhealthy through the hook.
func (r *Rollout) countUnhealthy(instances []Instance) int {
	if r.hooks.CountsUnhealthy == nil {
		return CountUnhealthy(instances, r.policy.HealthMode)
	}
	n := 0
	for i := range instances {
		if r.hooks.CountsUnhealthy(&instances[i], r.policy.HealthMode) {
			n++
		}
	}
	return n
}

// gate is a failed gate's verdict: failed, unless a hook says otherwise.
func (r *Rollout) gate(g Gate, passed bool) bool {
	if r.hooks.Gate != nil {
		return r.hooks.Gate(g, passed)
	}
	return passed
}
