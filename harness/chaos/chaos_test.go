package chaos

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/harness"
)

func TestGenerateIsDeterministicAndValid(t *testing.T) {
	for run := range 300 {
		a, b := Generate(7, run, 100_000), Generate(7, run, 100_000)
		if !bytes.Equal(a.Render(), b.Render()) {
			t.Fatalf("run %d: one seed gave two scenarios", run)
		}
		if _, err := a.Parse(); err != nil {
			t.Fatalf("run %d: the generated scenario does not parse: %v\n%s", run, err, a.Render())
		}
	}
	if bytes.Equal(Generate(7, 1, 1000).Render(), Generate(8, 1, 1000).Render()) {
		t.Fatal("two seeds gave the same scenario")
	}
}

// TestChaosFindsNoViolation runs generated scenarios on the sim against the
// current orchestrator: none may break an invariant.
func TestChaosFindsNoViolation(t *testing.T) {
	runs := 150
	if testing.Short() {
		runs = 30
	}
	for run := range runs {
		s := Generate(1, run, 2_000)
		sc, err := s.Parse()
		if err != nil {
			t.Fatal(err)
		}
		r, err := harness.Run(context.Background(), sc, harness.Options{})
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, s.Render())
		}
		if broken := Violated(r); len(broken) > 0 {
			var details []string
			for _, inv := range r.Invariants {
				if !inv.OK {
					details = append(details, inv.ID+": "+inv.Detail)
				}
			}
			t.Errorf("seed 1 run %d breaks %v:\n%s\n%s", run, broken, strings.Join(details, "\n"), s.Render())
		}
	}
}

func TestShrinkKeepsTheFailure(t *testing.T) {
	s := Spec{Name: "x", Instances: 400, Zones: []string{"1", "2"}, UpdateDomains: 3, Bad: "crash", Extensions: 2, Faults: []FaultSpec{
		{When: "at: 0s", Fault: "kill", Select: "count: 1"},
		{When: "at: 0s", Fault: "loss", Select: "count: 1", Extra: "drop: 30"},
		{When: "at: 0s", Fault: "pause", Select: "count: 1"},
	}}
	// "Fails" while the loss fault is there and the set has 7 instances or more.
	fails := func(c Spec) bool {
		for _, f := range c.Faults {
			if f.Fault == "loss" {
				return c.Instances >= 7
			}
		}
		return false
	}
	got := Shrink(s, fails, 500)
	if len(got.Faults) != 1 || got.Faults[0].Fault != "loss" || got.Instances != 7 || got.Zones != nil || got.Bad != "" || got.Extensions != 0 || got.UpdateDomains != 0 {
		t.Fatalf("shrunk to %+v, want only the loss fault on 7 instances", got)
	}
}

// Without netem the same draws come out, latency shaped with TBF; every
// such scenario parses.
func TestWithoutNetemKeepsTheDraws(t *testing.T) {
	seen := 0
	for run := range 300 {
		s := Generate(3, run, 20)
		w := s.WithoutNetem()
		if len(w.Faults) != len(s.Faults) || w.Instances != s.Instances {
			t.Fatalf("run %d: the draws changed", run)
		}
		for i, f := range w.Faults {
			if f.Fault != "latency" {
				if f != s.Faults[i] {
					t.Fatalf("run %d: fault %d changed: %+v", run, i, f)
				}
				continue
			}
			seen++
			if f.Extra != s.Faults[i].Extra+", kind: tbf" {
				t.Fatalf("run %d: latency is %q", run, f.Extra)
			}
		}
		if _, err := w.Parse(); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	if seen == 0 {
		t.Fatal("no latency fault drawn in 300 runs: the test checks nothing")
	}
}
