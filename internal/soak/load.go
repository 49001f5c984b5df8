package soak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// load is the soak's request loops. Each loop sleeps o.Pause between two
// requests, so the rate is bounded by the number of loops.
type load struct {
	o    Options
	c    *client
	wait clockWait
	res  *Result

	mu         sync.Mutex
	ended      []RolloutCompare // rollouts that ended, their twins to run
	violations []string
}

func (l *load) violation(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.violations = append(l.violations, fmt.Sprintf(format, a...))
}

func (l *load) pause(ctx context.Context) error { return sleep(ctx, l.o.Pause) }

// rollouts is rollout worker w: planned rollouts on its own set, one after
// another, until loadCtx ends; the one in progress then finishes under
// runCtx.
func (l *load) rollouts(loadCtx, runCtx context.Context, w int) {
	for n := 0; loadCtx.Err() == nil; n++ {
		p := planRollout(l.o.Seed, w, n)
		l.mu.Lock()
		l.res.Rollouts.Started++
		l.res.Rollouts.ByCase[p.Case]++
		l.mu.Unlock()
		out, err := l.rollout(runCtx, p)
		if err != nil {
			l.violation("rollout %s %s→%s (%s): %v", p.Set, p.From, p.To, p.Case, err)
			// Start the next round from a clean slate.
			_ = remove(runCtx, l.c, p.Set, l.wait)
			continue
		}
		l.mu.Lock()
		l.ended = append(l.ended, RolloutCompare{Plan: p, Soak: out})
		l.res.Rollouts.ByOutcome[out.Status+"/"+out.ErrorCode]++
		l.mu.Unlock()
		if l.o.Progress != nil {
			fmt.Fprintf(l.o.Progress, "soak: %s %s→%s (%s): %s %s\n", p.Set, p.From, p.To, p.Case, out.Status, out.ErrorCode)
		}
	}
}

func (l *load) rollout(ctx context.Context, p rolloutPlan) (Outcome, error) {
	if err := p.prepare(ctx, l.c, l.wait, bootTime); err != nil {
		return Outcome{}, err
	}
	if err := p.start(ctx, l.c); err != nil {
		return Outcome{}, err
	}
	if err := awaitEnd(ctx, l.c, p.Set, l.wait, func(ctx context.Context) { l.readSet(ctx, p.Set) }); err != nil {
		return Outcome{}, err
	}
	out, err := p.outcome(ctx, l.c, l.wait)
	if err != nil {
		return out, err
	}
	return out, remove(ctx, l.c, p.Set, l.wait)
}

// readSet is the reads a rolling set gets between two reads of latest:
// the set, a page of its VMs, its history (every page), its journal.
func (l *load) readSet(ctx context.Context, set string) {
	base := setsPath + "/" + set
	for _, r := range []struct{ kind, path string }{
		{"GET scale set", base},
		{"GET VMs", base + "/virtualMachines"},
		{"GET VM", base + "/virtualMachines/0"},
		{"GET instance view", base + "/virtualMachines/0/instanceView"},
		{"GET journal", "/osupgrade/journal?limit=20&set=" + set},
	} {
		if l.pause(ctx) != nil {
			return
		}
		_, _ = l.c.call(ctx, r.kind, http.MethodGet, r.path, nil)
	}
	l.history(ctx, set)
}

// history reads osUpgradeHistory to its last page (pages of 2).
func (l *load) history(ctx context.Context, set string) {
	path := setsPath + "/" + set + "/osUpgradeHistory"
	for page := 0; path != "" && page < 20; page++ {
		if l.pause(ctx) != nil {
			return
		}
		r, err := l.c.call(ctx, "GET history", http.MethodGet, path, nil)
		if err != nil || r.Status != http.StatusOK {
			return
		}
		var body struct {
			NextLink string `json:"nextLink"`
		}
		if r.decode(&body) != nil {
			return
		}
		path = body.NextLink
	}
}

// churnFaults are the instance faults a churn set gets, one per cycle in
// turn.
var churnFaults = []faultRequest{
	{Fault: "flap", Instances: []int{0}, Period: "1m"},
	{Fault: "down", Instances: []int{1}},
	{Fault: "pause", Instances: []int{2}},
	{Fault: "app-unhealthy", Instances: []int{3}},
	{Fault: "lie", Instances: []int{4}},
	{Fault: "slow-boot", Instances: []int{5}, Delay: "1m"},
}

// churn is churn worker w: a set created, patched, updated, upgraded,
// cancelled, manually upgraded and deleted, over and over, with reads in
// between. Its rollouts race its own cancels and updates, so their
// outcomes are not compared. Worker 0's set has 1500 instances, so that
// its VM lists run over two pages.
func (l *load) churn(loadCtx, runCtx context.Context, w int) {
	set := fmt.Sprintf("soak-churn-%d", w)
	image := fmt.Sprintf("Soak:Churn:c%d", w)
	capacity := 8
	if w == 0 {
		capacity = 1500
	}
	ctx := runCtx
	for n := 0; loadCtx.Err() == nil; n++ {
		l.mu.Lock()
		l.res.Churn.Cycles++
		l.mu.Unlock()
		step := func(name, kind, method, path string, body any, codes ...int) *response {
			if l.pause(ctx) != nil {
				return nil
			}
			r, err := l.c.expect(ctx, name, kind, method, path, body, codes...)
			var es *errStatus
			if errors.As(err, &es) {
				l.mu.Lock()
				l.res.Churn.Unexpected[fmt.Sprintf("%s: %d", name, es.status)]++
				l.mu.Unlock()
			}
			return r
		}
		base := setsPath + "/" + set
		from, to := fmt.Sprintf("%d.0.1", n+1), fmt.Sprintf("%d.0.2", n+1)
		step("publish", "POST images", http.MethodPost, "/osupgrade/images", map[string]string{"image": image, "version": from}, http.StatusCreated)
		body := scaleSetBody(image, capacity, 20, "PT0S", false, false, bootTime)
		if r := step("create", "PUT scale set", http.MethodPut, base, body, http.StatusCreated); r != nil && r.Status == http.StatusCreated {
			_, _ = waitOperation(ctx, l.c, "create", r, l.wait)
		}
		step("patch tags", "PATCH scale set", http.MethodPatch, base, map[string]any{"tags": map[string]string{"osupgrade.bootTime": "20s", "soak.cycle": strconv.Itoa(n)}}, http.StatusOK)
		step("publish", "POST images", http.MethodPost, "/osupgrade/images", map[string]string{"image": image, "version": to}, http.StatusCreated)
		f := churnFaults[n%len(churnFaults)]
		f.ScaleSet = set
		step("fault", "POST faults", http.MethodPost, "/osupgrade/faults", f, http.StatusOK)
		step("start", "POST osRollingUpgrade", http.MethodPost, base+"/osRollingUpgrade", nil, http.StatusAccepted)
		step("latest", "GET latest", http.MethodGet, base+"/rollingUpgrades/latest", nil, http.StatusOK)
		if _, err := listVMs(ctx, l.c, set, n%2 == 0); err != nil && ctx.Err() == nil {
			var es *errStatus
			if !errors.As(err, &es) {
				l.violation("churn %s: list VMs: %v", set, err)
			}
		}
		_ = l.wait(ctx, time.Duration(n%4)*30*time.Second)
		// An update of the model during the rollout: the next reimages
		// take it.
		body = scaleSetBody(image, capacity, 20, "PT5S", n%2 == 1, false, bootTime)
		step("update", "PUT scale set", http.MethodPut, base, body, http.StatusOK)
		step("cancel", "POST cancel", http.MethodPost, base+"/rollingUpgrades/cancel", nil, http.StatusAccepted)
		l.readSet(ctx, set)
		// Wait (bounded) for the cancelled rollout to end before the manual
		// upgrade and the delete.
		_ = awaitEnd(ctx, l.c, set, l.wait, nil)
		step("manual upgrade", "POST manualupgrade", http.MethodPost, base+"/manualupgrade", map[string]any{"instanceIds": []string{"0", "1"}}, http.StatusAccepted)
		_ = l.wait(ctx, time.Minute)
		if err := remove(ctx, l.c, set, l.wait); err != nil && ctx.Err() == nil {
			var es *errStatus
			if !errors.As(err, &es) {
				l.violation("churn %s: delete: %v", set, err)
			}
		}
	}
}

// reads is read worker w: reads across everything the soak makes, in turn,
// 404s included (a set between two cycles).
func (l *load) reads(ctx context.Context, w int) {
	sets := []string{}
	for i := range l.o.RolloutWorkers {
		sets = append(sets, fmt.Sprintf("soak-rollout-%d", i))
	}
	for i := range l.o.ChurnWorkers {
		sets = append(sets, fmt.Sprintf("soak-churn-%d", i))
	}
	images := "/subscriptions/" + subscription + "/providers/Microsoft.Compute/locations/eastus/publishers/Soak/artifacttypes/vmimage/offers/Rollout/skus/w0/versions"
	for i := w; ctx.Err() == nil; i++ {
		set := sets[i%len(sets)]
		base := setsPath + "/" + set
		var r struct{ kind, path string }
		switch i % 10 {
		case 0:
			r.kind, r.path = "GET scale sets", setsPath
		case 1:
			r.kind, r.path = "GET scale sets (subscription)", "/subscriptions/"+subscription+"/providers/Microsoft.Compute/virtualMachineScaleSets"
		case 2:
			r.kind, r.path = "GET scale set", base
		case 3:
			r.kind, r.path = "GET latest", base+"/rollingUpgrades/latest"
		case 4:
			r.kind, r.path = "GET history", base+"/osUpgradeHistory"
		case 5:
			r.kind, r.path = "GET VMs", base+"/virtualMachines?$expand=instanceView"
		case 6:
			r.kind, r.path = "GET journal", "/osupgrade/journal?limit=50"
		case 7:
			r.kind, r.path = "GET fleet journal", "/osupgrade/fleet/journal?limit=50&set="+set
		case 8:
			r.kind, r.path = "GET image versions", images
		case 9:
			r.kind, r.path = "GET clock", "/osupgrade/clock"
		}
		_, _ = l.c.call(ctx, r.kind, http.MethodGet, r.path, nil)
		if l.pause(ctx) != nil {
			return
		}
	}
}
