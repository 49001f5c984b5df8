package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Interceptor wraps a fleet with optional per-method hooks, in the style of
// controller-runtime's interceptor client: a nil hook passes the call
// through, a hook gets the wrapped fleet to call or not. The orchestrator
// sees the Interceptor; control-plane faults (engine-error,
// orchestrator-restart) are hooks.
type Interceptor struct {
	Fleet Backend
	Funcs InterceptFuncs
}

// InterceptFuncs are the hooks; nil passes through.
type InterceptFuncs struct {
	Observe func(ctx context.Context, f Backend, set string) ([]plan.Instance, error)
	Reimage func(ctx context.Context, f Backend, set string, id int, image plan.Image) error
	Changed func(f Backend) (sets []string, all bool)
}

var (
	_ orchestrator.Fleet       = (*Interceptor)(nil)
	_ orchestrator.ChangeFeed  = (*Interceptor)(nil)
	_ orchestrator.Provisioner = (*Interceptor)(nil)
)

func (i *Interceptor) Observe(ctx context.Context, set string) ([]plan.Instance, error) {
	if i.Funcs.Observe != nil {
		return i.Funcs.Observe(ctx, i.Fleet, set)
	}
	return i.Fleet.Observe(ctx, set)
}

func (i *Interceptor) Reimage(ctx context.Context, set string, id int, image plan.Image) error {
	if i.Funcs.Reimage != nil {
		return i.Funcs.Reimage(ctx, i.Fleet, set, id, image)
	}
	return i.Fleet.Reimage(ctx, set, id, image)
}

// ChangedSets passes the fleet's change feed through (every set may have
// changed when the fleet has none): while an observe fault is in force
// every set counts as changed, so the orchestrator keeps observing as the
// fault expects.
func (i *Interceptor) ChangedSets() ([]string, bool) {
	if i.Funcs.Changed != nil {
		return i.Funcs.Changed(i.Fleet)
	}
	if cf, ok := i.Fleet.(orchestrator.ChangeFeed); ok {
		return cf.ChangedSets()
	}
	return nil, true
}

func (i *Interceptor) CreateScaleSet(ctx context.Context, model orchestrator.ScaleSet, version string) error {
	return i.Fleet.CreateScaleSet(ctx, model, version)
}

func (i *Interceptor) UpdateModel(ctx context.Context, model orchestrator.ScaleSet) error {
	return i.Fleet.UpdateModel(ctx, model)
}

func (i *Interceptor) DeleteScaleSet(ctx context.Context, name string) error {
	return i.Fleet.DeleteScaleSet(ctx, name)
}

// ErrInjected marks every error a control-plane fault makes up: the run
// goes on (the orchestrator must cope), the result lists it as a problem.
var ErrInjected = errors.New("injected control-plane fault")

// controlPlane holds the control-plane faults in force.
type controlPlane struct {
	w     *World
	rules []*cpRule
	// failed counts reimages made to fail, and which instances, by set.
	failed   map[string]int
	failedBy map[string]map[int]bool
	// killed: the orchestrator process is dead (orchestrator-restart with
	// nth:), every call fails until the world restarts it from snap.
	killed bool
	snap   []byte
	// observeTook is the time the fleet's observations took since the
	// world's step began.
	observeTook time.Duration
}

type cpRule struct {
	op     string // "reimage" or "observe"
	slow   time.Duration
	set    string
	ids    map[int]bool // nil: every instance
	nth    int          // fail only the nth call (1-based) after arming; 0: every call while active
	calls  int
	active bool
	kill   bool // orchestrator-restart: the nth reimage kills the orchestrator
}

func newControlPlane(w *World) *controlPlane {
	return &controlPlane{w: w, failed: map[string]int{}, failedBy: map[string]map[int]bool{}}
}

func (c *controlPlane) failures(set string) int { return c.failed[set] }

func (c *controlPlane) failedIDs(set string) map[int]bool { return c.failedBy[set] }

func (c *controlPlane) observe(ctx context.Context, f Backend, set string) ([]plan.Instance, error) {
	if c.killed {
		return nil, fmt.Errorf("%w: the orchestrator process was killed", ErrInjected)
	}
	for _, r := range c.rules {
		if !r.active || r.op != "observe" || (r.set != "" && r.set != set) {
			continue
		}
		if r.slow > 0 {
			if err := c.w.sleep(ctx, r.slow); err != nil {
				return nil, err
			}
			continue
		}
		r.calls++
		if r.nth == 0 || r.calls == r.nth {
			return nil, fmt.Errorf("%w: observe of %s failed (engine-error, call %d)", ErrInjected, set, r.calls)
		}
	}
	began := c.w.Clock.Now()
	obs, err := f.Observe(ctx, set)
	c.observeTook += c.w.Clock.Now().Sub(began)
	if err == nil && c.w.journal != nil {
		unlock := c.w.lockJournal()
		c.w.journal.Observed(c.w.Clock.Now(), set, obs)
		unlock()
	}
	return obs, err
}

// changed is the fleet's change feed, with every set changed while the
// orchestrator is killed or an observe fault is in force.
func (c *controlPlane) changed(f Backend) ([]string, bool) {
	cf, ok := f.(orchestrator.ChangeFeed)
	if !ok {
		return nil, true
	}
	sets, all := cf.ChangedSets()
	if c.killed {
		return sets, true
	}
	for _, r := range c.rules {
		if r.active && r.op == "observe" {
			return sets, true
		}
	}
	return sets, all
}

func (c *controlPlane) reimage(ctx context.Context, f Backend, set string, id int, image plan.Image) error {
	if c.killed {
		c.countFailure(set, id)
		return fmt.Errorf("%w: the orchestrator process was killed", ErrInjected)
	}
	for _, r := range c.rules {
		if !r.active || r.op != "reimage" || (r.set != "" && r.set != set) || (r.ids != nil && !r.ids[id]) {
			continue
		}
		if r.slow > 0 {
			if err := c.w.sleep(ctx, r.slow); err != nil {
				return err
			}
			continue
		}
		r.calls++
		if r.nth != 0 && r.calls != r.nth {
			continue
		}
		if r.kill {
			// SIGKILL between journaling the decision and carrying it
			// out: what the store holds now is all a restart gets.
			snap, err := c.w.snapshotStore(ctx)
			if err != nil {
				return err
			}
			c.killed, c.snap = true, snap
			c.w.reimages.orchestratorDead(true)
			r.active = false
			c.countFailure(set, id)
			return fmt.Errorf("%w: the orchestrator was killed before reimaging instance %d", ErrInjected, id)
		}
		c.countFailure(set, id)
		return fmt.Errorf("%w: reimage of instance %d of %s failed (engine-error, call %d)", ErrInjected, id, set, r.calls)
	}
	return f.Reimage(ctx, set, id, image)
}

func (c *controlPlane) countFailure(set string, id int) {
	c.failed[set]++
	m := c.failedBy[set]
	if m == nil {
		m = map[int]bool{}
		c.failedBy[set] = m
	}
	m[id] = true
}

// sleep lets d of scenario time pass inside a fleet call: the sim's clock
// jumps, a real clock is waited on. The journal learns that the fleet's
// timestamp of this call trails its start, from which the orchestrator
// counts the instance's wait, by d.
func (w *World) sleep(ctx context.Context, d time.Duration) error {
	if w.journal != nil {
		unlock := w.lockJournal()
		w.journal.Lag = d
		unlock()
	}
	if w.virtual != nil {
		w.virtual.Advance(d)
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.Clock.After(d):
		return nil
	}
}
