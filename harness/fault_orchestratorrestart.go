package harness

import (
	"context"
	"fmt"
)

// orchestrator-restart: the orchestrator dies and a new one starts from
// what its store holds, as `osupgrade serve` restarted on the same --data
// after a SIGKILL; it must resume the rollout (journal before act).
//
// Without nth: it dies now, between two steps. With nth: N it dies inside
// its Nth reimage call from now — after the decision was journaled, before
// it was carried out (that call and every later one in the step fail) — and
// the new one must finish the journaled decision without reimaging twice.
//
// On the sim the store is read back from its JSON form, so nothing that is
// not persisted survives; on Docker the same applies to the serve process.
type orchestratorRestart struct{}

func init() { register("orchestrator-restart", orchestratorRestart{}) }

func (orchestratorRestart) Apply(ctx context.Context, w *World, t Target) (func(context.Context) error, error) {
	if t.Entry.Nth < 0 {
		return nil, fmt.Errorf("%w: orchestrator-restart: nth is %d, want 1 or more", ErrBadInput, t.Entry.Nth)
	}
	if t.Entry.Nth > 0 {
		w.ctl.rules = append(w.ctl.rules, &cpRule{op: "reimage", set: t.Set, nth: t.Entry.Nth, active: true, kill: true})
		return nil, nil
	}
	snap, err := w.snapshotStore(ctx)
	if err != nil {
		return nil, err
	}
	return nil, w.restartOrchestrator(ctx, snap)
}
