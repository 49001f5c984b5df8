package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/internal/progress"
)

// fakeWays is DockerWays with fixed durations; it records the call order.
type fakeWays struct {
	calls    []string
	swarmErr error
	// onCall, when set, runs before each way with the calls made so far.
	onCall func(calls int)
	ctx    context.Context
}

func (f *fakeWays) Prepare(_ context.Context, n int) error {
	f.calls = append(f.calls, fmt.Sprintf("prepare %d", n))
	return nil
}

func (f *fakeWays) way(name string, d time.Duration) (time.Duration, error) {
	if f.onCall != nil {
		f.onCall(len(f.calls))
	}
	f.calls = append(f.calls, name)
	if f.ctx != nil && f.ctx.Err() != nil {
		return 0, fmt.Errorf("%s: %w", name, f.ctx.Err())
	}
	return d, nil
}

func (f *fakeWays) Ours(_ context.Context, n int) (time.Duration, error) {
	return f.way("ours", time.Duration(n)*110*time.Millisecond)
}

func (f *fakeWays) Limit(_ context.Context, n int) (time.Duration, error) {
	return f.way("limit", time.Duration(n)*100*time.Millisecond)
}

func (f *fakeWays) Swarm(_ context.Context, n int) (time.Duration, error) {
	if f.swarmErr != nil {
		f.calls = append(f.calls, "swarm")
		return 0, f.swarmErr
	}
	return f.way("swarm", time.Duration(n)*400*time.Millisecond)
}

func (f *fakeWays) Settings(int) string         { return "fake" }
func (f *fakeWays) Close(context.Context) error { return nil }

func TestSuiteRun(t *testing.T) {
	ways := &fakeWays{}
	var txt, prog bytes.Buffer
	cfg := Config{
		SimSizes: []int{200, 1000}, Mixes: []Mix{FaultFree}, PlannerSizes: []int{300},
		Reps:   func(int) int { return 3 },
		Docker: ways, DockerSizes: []int{10}, DockerReps: 3,
		Bench: &txt, Progress: progress.New(&prog, progress.Plain), Wall: time.Now,
	}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sim) != 2 || r.Sim[0].Reps != 3 || r.Sim[1].MakespanRatio != 1 || len(r.Growth) != 2 || len(r.Planner) != 1 {
		t.Fatalf("report: %+v", r)
	}
	want := "prepare 10 ours limit swarm limit swarm ours swarm ours limit"
	if got := strings.Join(ways.calls, " "); got != want {
		t.Errorf("call order %q, want %q (alternating, rotating who starts)", got, want)
	}
	c := r.Docker[0]
	if c.OursLim == nil || c.OursSwm == nil || fmt.Sprintf("%.2f %.3f", c.OursLim.Ratio, c.OursSwm.Ratio) != "1.10 0.275" {
		t.Errorf("ratios %+v %+v", c.OursLim, c.OursSwm)
	}
	for _, name := range []string{"BenchmarkRollout/mix=none/N=200-", "BenchmarkPlanner/Rollout/N=300-", "BenchmarkDocker/way=swarm/N=10-"} {
		if strings.Count(txt.String(), name) != 3 {
			t.Errorf("bench.txt has %d lines of %s:\n%s", strings.Count(txt.String(), name), name, txt.String())
		}
	}
	if !strings.Contains(prog.String(), "[1/") {
		t.Errorf("no progress: %q", prog.String())
	}
	cmp := r.CompareWith(r)
	if cmp.Regressions != 0 || len(cmp.Deltas) == 0 {
		t.Errorf("self-comparison: %+v", cmp)
	}
}

func TestSuiteRunDockerWayFails(t *testing.T) {
	ways := &fakeWays{swarmErr: errors.New("no swarm")}
	cfg := Config{Reps: func(int) int { return 1 }, Docker: ways, DockerSizes: []int{5}, DockerReps: 2, Wall: time.Now}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Docker[0]
	if c.Swarm.N != 0 || c.OursSwm != nil || c.OursLim == nil || len(c.Skipped) != 1 || !strings.Contains(c.Skipped[0], "no swarm") {
		t.Errorf("case %+v", c)
	}
	if got := strings.Count(strings.Join(ways.calls, " "), "swarm"); got != 1 {
		t.Errorf("a failed way was retried %d times", got)
	}
}

// An interrupted run keeps what it measured: the cases before, and the
// complete turns of the Docker case it was in (the turn cut short is
// dropped, so the ratios stay paired); the cases after are not run.
func TestSuiteRunInterruptedKeepsCompleteTurns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Calls: prepare 10, 3 ways × 3 turns, prepare 20, then 2 turns and one
	// way of the third: cancelled during the third turn's second way.
	ways := &fakeWays{ctx: ctx}
	ways.onCall = func(calls int) {
		if calls == 1+9+1+3+3+1 {
			cancel()
		}
	}
	cfg := Config{Reps: func(int) int { return 1 }, Docker: ways, DockerSizes: []int{10, 20, 30}, DockerReps: 3, Wall: time.Now}
	r, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) || r == nil {
		t.Fatalf("Run = %v, %v; want the partial report and context.Canceled", r, err)
	}
	if len(r.Docker) != 2 || r.Docker[0].Reps != 3 || r.Docker[0].Stopped != "" {
		t.Fatalf("docker cases %+v", r.Docker)
	}
	c := r.Docker[1]
	if c.N != 20 || c.Reps != 2 || c.Ours.N != 2 || c.Limit.N != 2 || c.Swarm.N != 2 || c.OursLim == nil || c.OursLim.N != 2 || !strings.Contains(c.Stopped, "2 of 3 turns: interrupted") {
		t.Errorf("interrupted case %+v", c)
	}
	if !strings.Contains(r.Interrupted, "docker N=20") {
		t.Errorf("Interrupted %q", r.Interrupted)
	}
	if got := strings.Join(ways.calls, " "); strings.Contains(got, "prepare 30") {
		t.Errorf("a case after the interrupt ran: %s", got)
	}
}

// Other errors lose the report, as before.
func TestSuiteRunFailsWithoutReport(t *testing.T) {
	cfg := Config{SimSizes: []int{-1}, Mixes: []Mix{FaultFree}, Reps: func(int) int { return 1 }, Wall: time.Now}
	if r, err := Run(context.Background(), cfg); err == nil || r != nil {
		t.Fatalf("Run = %v, %v; want an error and no report", r, err)
	}
}

// With a budget, no turn starts once it is spent.
func TestSuiteRunDockerBudget(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ways := &fakeWays{}
	// Each way call takes 10 minutes of the fake wall clock.
	ways.onCall = func(int) { now = now.Add(10 * time.Minute) }
	cfg := Config{Reps: func(int) int { return 1 }, Docker: ways, DockerSizes: []int{10, 20}, DockerReps: 5, DockerWithin: 50 * time.Minute,
		Wall: func() time.Time { return now }}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Turn 1 ends at 30 min, turn 2 at 60: the third does not start, nor
	// does the next case.
	if len(r.Docker) != 1 || r.Docker[0].Reps != 2 || !strings.Contains(r.Docker[0].Stopped, "2 of 5 turns: the Docker budget") {
		t.Fatalf("docker cases %+v", r.Docker)
	}
	if !strings.Contains(r.DockerNotRun, "before N=20") || strings.Contains(strings.Join(ways.calls, " "), "prepare 20") {
		t.Errorf("DockerNotRun %q, calls %v", r.DockerNotRun, ways.calls)
	}
}

// A way that failed is reported even when the case was interrupted before
// a turn was complete: its error is what the user needs.
func TestSuiteRunInterruptedKeepsAFailedWay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ways := &fakeWays{ctx: ctx, swarmErr: errors.New("no swarm")}
	// prepare, ours, limit, swarm (fails), then cancelled during turn 2.
	ways.onCall = func(calls int) {
		if calls == 5 {
			cancel()
		}
	}
	var prog bytes.Buffer
	cfg := Config{Reps: func(int) int { return 1 }, Docker: ways, DockerSizes: []int{10}, DockerReps: 3, Wall: time.Now, Progress: progress.New(&prog, progress.Plain)}
	r, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) || r == nil || len(r.Docker) != 1 {
		t.Fatalf("Run = %+v, %v", r, err)
	}
	if c := r.Docker[0]; c.Reps != 1 || len(c.Skipped) != 1 || !strings.Contains(c.Skipped[0], "no swarm") {
		t.Errorf("case %+v", c)
	}
	if !strings.Contains(prog.String(), "docker N=10 swarm failed (not run again): no swarm") {
		t.Errorf("progress does not say the way failed: %q", prog.String())
	}
}

// A Swarm update that rolled back at 200 leaves no ratio: the target says
// so, with both sides' times, and is not met.
func TestTargetsSwarmFailedAt200(t *testing.T) {
	r := &Report{Docker: []DockerCase{{N: 200, Reps: 1, Ours: Summarize("s", []float64{437}), Limit: Summarize("s", []float64{381}),
		Skipped: []string{"swarm: after 1056 s: the Swarm update ended rollback_completed: update rolled back"}}}}
	var got *Target
	for _, tg := range targets(r) {
		if tg.Name == "docker N=200: ours ÷ Swarm" {
			got = &tg
		}
	}
	if got == nil || got.Met || !strings.Contains(got.Got, "ours 437 s") || !strings.Contains(got.Got, "after 1056 s") {
		t.Fatalf("Swarm target %+v, want one not met that gives both times", got)
	}
}

func TestSuiteRunsTheFleetCase(t *testing.T) {
	var txt bytes.Buffer
	cfg := Config{
		Mixes: []Mix{FaultFree}, FleetSets: []int{2, 6}, FleetInstances: []int{10},
		FleetReps: func(sets, instances int) int { return 2 },
		Bench:     &txt, Wall: time.Now,
	}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Fleet) != 2 || r.Fleet[1].Sets != 6 || r.Fleet[1].Reps != 2 || r.Fleet[1].Completed != 6 || r.Fleet[0].Wall.N != 2 {
		t.Fatalf("fleet cases: %+v", r.Fleet)
	}
	// 10 instances, 3 zones: 10 batches of one (zone, update domain)
	// group each. 6 sets (eastus … southcentralus) and 2 (eastus, westus)
	// both make 2 phases.
	for _, c := range r.Fleet {
		if c.Makespan.Phases != 2 || c.Makespan.Bound != 2*10*35*time.Second || c.Ratio < 1 {
			t.Errorf("%d sets: makespan %+v, ratio %.3f", c.Sets, c.Makespan, c.Ratio)
		}
	}
	if len(r.Growth) != 2 || !strings.Contains(r.Growth[0].Quantity, "fleet wall time in sets") {
		t.Fatalf("growth: %+v", r.Growth)
	}
	if !strings.Contains(txt.String(), "BenchmarkFleet/mix=none/sets=6/instances=10-") {
		t.Fatalf("benchmark lines:\n%s", txt.String())
	}
	base := *r
	if c := r.CompareWith(&base); c.Regressions != 0 || len(c.Deltas) != 4 {
		t.Fatalf("comparison with itself: %+v", c)
	}
}

// gatedWays are fakeWays that know their health gate: the lower bound is
// each turn's limit plus it, reported beside the limit with ours ÷ bound.
type gatedWays struct{ fakeWays }

func (g *gatedWays) HealthGate(n int) time.Duration { return time.Duration(n) * 5 * time.Millisecond }

func TestSuiteRunReportsTheHealthGatedLowerBound(t *testing.T) {
	cfg := Config{Reps: func(int) int { return 1 }, Docker: &gatedWays{}, DockerSizes: []int{10}, DockerReps: 3, Wall: time.Now}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Docker[0]
	// limit 1.0 s + gate 0.05 s; ours 1.1 s.
	if c.HealthGate != 0.05 || c.LowerBound.N != 3 || fmt.Sprintf("%.2f", c.LowerBound.Mean) != "1.05" {
		t.Errorf("gate %v, bound %+v; want 0.05 s and 1.05 s over 3 turns", c.HealthGate, c.LowerBound)
	}
	if c.OursBound == nil || fmt.Sprintf("%.3f", c.OursBound.Ratio) != "1.048" {
		t.Errorf("ours ÷ bound %+v; want 1.048", c.OursBound)
	}
	// Without a gate, no bound.
	r, err = Run(context.Background(), Config{Reps: func(int) int { return 1 }, Docker: &fakeWays{}, DockerSizes: []int{10}, DockerReps: 2, Wall: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Docker[0]; c.LowerBound.N != 0 || c.OursBound != nil {
		t.Errorf("a way without a health gate has bound %+v, ratio %+v", c.LowerBound, c.OursBound)
	}
}
