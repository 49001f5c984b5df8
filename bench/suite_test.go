package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeWays is DockerWays with fixed durations; it records the call order.
type fakeWays struct {
	calls    []string
	swarmErr error
}

func (f *fakeWays) Prepare(_ context.Context, n int) error {
	f.calls = append(f.calls, fmt.Sprintf("prepare %d", n))
	return nil
}

func (f *fakeWays) way(name string, d time.Duration) (time.Duration, error) {
	f.calls = append(f.calls, name)
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
		Bench: &txt, Progress: &prog, Wall: time.Now,
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
