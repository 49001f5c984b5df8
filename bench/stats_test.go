package bench

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestSummarize(t *testing.T) {
	s := Summarize("s", []float64{5, 1, 4, 2, 3})
	if s.N != 5 || s.Mean != 3 || s.Min != 1 || s.Max != 5 {
		t.Fatalf("summary %+v", s)
	}
	// sd of 1..5 is sqrt(2.5); t(0.975, 4) = 2.776445.
	if !near(s.SD, math.Sqrt(2.5), 1e-12) {
		t.Errorf("sd %v", s.SD)
	}
	half := 2.7764451051977987 * math.Sqrt(2.5) / math.Sqrt(5)
	if !near(s.CILo, 3-half, 1e-9) || !near(s.CIHi, 3+half, 1e-9) {
		t.Errorf("ci [%v, %v], want ±%v", s.CILo, s.CIHi, half)
	}
	// Empirical quantiles: the lowest sample with ≥ p of the samples at or below it.
	if s.P50 != 3 || s.P95 != 5 {
		t.Errorf("p50 %v p95 %v, want 3 and 5", s.P50, s.P95)
	}
	one := Summarize("s", []float64{7})
	if one.CILo != 7 || one.CIHi != 7 || one.SD != 0 {
		t.Errorf("one sample: %+v", one)
	}
	if z := Summarize("s", nil); z.N != 0 {
		t.Errorf("empty: %+v", z)
	}
}

func TestFitGrowth(t *testing.T) {
	n := []float64{1e3, 1e4, 1e5, 1e6}
	cost := make([]float64, len(n))
	for i, x := range n {
		cost[i] = 3 * math.Pow(x, 1.02)
	}
	g, err := FitGrowth("wall", n, cost)
	if err != nil {
		t.Fatal(err)
	}
	if !near(g.Exponent, 1.02, 1e-9) || !near(g.R2, 1, 1e-12) || !near(g.Intercept, math.Log(3), 1e-9) {
		t.Errorf("growth %+v", g)
	}
	if _, err := FitGrowth("wall", []float64{10, 10}, []float64{1, 2}); err == nil {
		t.Error("one distinct size fitted")
	}
	if _, err := FitGrowth("wall", []float64{10, 0}, []float64{1, 2}); err == nil {
		t.Error("a zero size fitted")
	}
}

func TestPairedRatio(t *testing.T) {
	r, err := PairedRatio("ours", "limit", []float64{2, 4, 8}, []float64{1, 2, 4})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ratio != 2 || r.CILo != 2 || r.CIHi != 2 {
		t.Errorf("constant ratio: %+v", r)
	}
	r, err = PairedRatio("ours", "swarm", []float64{1, 1, 1, 1}, []float64{2, 4, 2, 4})
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.Ratio, 1/math.Sqrt(8), 1e-12) || !(r.CILo < r.Ratio && r.Ratio < r.CIHi) {
		t.Errorf("geometric mean ratio: %+v", r)
	}
	if _, err := PairedRatio("a", "b", []float64{1}, []float64{1, 2}); err == nil {
		t.Error("unpaired samples accepted")
	}
}

func TestCompare(t *testing.T) {
	base := Summary{N: 5, Mean: 10, CILo: 9, CIHi: 11}
	for _, c := range []struct {
		cur  Summary
		want Verdict
	}{
		{Summary{N: 5, CILo: 10.5, CIHi: 12}, Same},
		{Summary{N: 5, CILo: 11.5, CIHi: 12}, Regression},
		{Summary{N: 5, CILo: 7, CIHi: 8.5}, Better},
		{Summary{N: 1, Mean: 20, CILo: 20, CIHi: 20}, Untold}, // one sample: no interval
	} {
		if got := Compare(c.cur, base); got != c.want {
			t.Errorf("Compare(%+v) = %s, want %s", c.cur, got, c.want)
		}
	}
}

// Docker wall times are the engine's as much as ours: a slower or faster
// engine must not read as our regression, even where it moves the ratios;
// a higher ours ÷ limit on an engine as fast as the baseline's must.
func TestCompareWithJudgesDockerByTheRatio(t *testing.T) {
	secs := func(m float64) Summary { return Summary{Unit: "s", N: 5, Mean: m, CILo: m * 0.95, CIHi: m * 1.05} }
	ratio := func(m float64) *Ratio {
		return &Ratio{Of: "ours", To: "limit", N: 5, Ratio: m, CILo: m * 0.95, CIHi: m * 1.05}
	}
	base := &Report{Docker: []DockerCase{{N: 50, Reps: 5, Ours: secs(20), Limit: secs(18), Swarm: secs(60), OursLim: ratio(1.1), OursSwm: ratio(0.33)}}}
	for _, tc := range []struct {
		name        string
		cur         DockerCase
		regressions int
		ratioV      Verdict
	}{
		{"same engine, same ratio", DockerCase{N: 50, Reps: 5, Ours: secs(20.5), Limit: secs(18.2), Swarm: secs(61), OursLim: ratio(1.12), OursSwm: ratio(0.34)}, 0, Same},
		{"ours slower on the same engine", DockerCase{N: 50, Reps: 5, Ours: secs(30), Limit: secs(18), Swarm: secs(60), OursLim: ratio(1.66), OursSwm: ratio(0.5)}, 2, Regression},
		{"engine 4x slower, ratio lower", DockerCase{N: 50, Reps: 5, Ours: secs(74), Limit: secs(72), Swarm: secs(240), OursLim: ratio(1.03), OursSwm: ratio(0.31)}, 0, OtherEngine},
		{"engine 4x faster, ratio higher", DockerCase{N: 50, Reps: 5, Ours: secs(8), Limit: secs(4.5), Swarm: secs(10), OursLim: ratio(1.78), OursSwm: ratio(0.8)}, 0, OtherEngine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := (&Report{Docker: []DockerCase{tc.cur}}).CompareWith(base)
			if c.Regressions != tc.regressions {
				t.Errorf("regressions %d, want %d: %+v", c.Regressions, tc.regressions, c.Deltas)
			}
			for _, d := range c.Deltas {
				want := EngineBound
				if d.Quantity == "ours ÷ limit" || d.Quantity == "ours ÷ Swarm" {
					want = tc.ratioV
				}
				if d.Verdict != want {
					t.Errorf("%s: %s, want %s", d.Quantity, d.Verdict, want)
				}
			}
			if len(c.Deltas) != 5 {
				t.Errorf("%d deltas, want 5 (two ratios, three times)", len(c.Deltas))
			}
		})
	}
}

// A sim time against a baseline from another CPU model is shown, not
// judged; bytes per instance are judged wherever they were measured.
func TestCompareWithJudgesTimesOnTheSameCPUOnly(t *testing.T) {
	sum := func(m float64) Summary { return Summary{N: 5, Mean: m, CILo: m * 0.95, CIHi: m * 1.05} }
	base := &Report{Env: Env{CPUModel: "AMD EPYC", CPUs: 2}, Sim: []SimCase{{Mix: FaultFree, N: 1000, NsPerInstance: sum(1000), BytesPerInstance: sum(300)}}}
	for _, tc := range []struct {
		cpu         string
		regressions int
		nsVerdict   Verdict
	}{
		{"AMD EPYC", 2, Regression},
		{"Intel(R) Xeon(R) Processor", 1, OtherCPU},
	} {
		cur := &Report{Env: Env{CPUModel: tc.cpu, CPUs: 2}, Sim: []SimCase{{Mix: FaultFree, N: 1000, NsPerInstance: sum(2000), BytesPerInstance: sum(400)}}}
		c := cur.CompareWith(base)
		if c.Regressions != tc.regressions || len(c.Deltas) != 2 || c.Deltas[0].Verdict != tc.nsVerdict || c.Deltas[1].Verdict != Regression {
			t.Errorf("%s: %d regressions, %+v; want %d, ns/instance %s, B/instance regression", tc.cpu, c.Regressions, c.Deltas, tc.regressions, tc.nsVerdict)
		}
	}
}
