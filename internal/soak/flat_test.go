package soak

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// series makes n samples a second apart from value(i).
func series(n int, value func(i int) float64) []Sample {
	s := make([]Sample, n)
	for i := range s {
		s[i] = Sample{At: float64(i), Value: value(i)}
	}
	return s
}

func TestFlatRuleJudge(t *testing.T) {
	rule := FlatRule{Warmup: 0.2, Rel: 0.2, Abs: 5}
	noise := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name    string
		samples []Sample
		flat    bool
		why     string
	}{
		{"constant", series(60, func(int) float64 { return 100 }), true, ""},
		{"warm-up growth then flat", series(60, func(i int) float64 { return 100 + 50*min(float64(i)/10, 1) }), true, ""},
		// ±15% noise around 100, one spike of 3× in the middle.
		{"noisy flat", series(120, func(i int) float64 {
			if i == 70 {
				return 300
			}
			return 100 + 30*(noise.Float64()-0.5)
		}), true, ""},
		// A leak: +1 per sample, 100 → 160 over the run.
		{"growing", series(60, func(i int) float64 { return 100 + float64(i) }), false, "last-quarter median"},
		// Grows for most of the run and falls back only for the last
		// eleven samples (a cache flushed just before the end): the last quarter's
		// median passes, the fitted line does not.
		{"grows then falls back at the end", series(100, func(i int) float64 {
			if i < 89 {
				return 100 + 1.5*float64(i-20)
			}
			return 110
		}), false, "fitted line"},
		{"too few samples", series(6, func(int) float64 { return 1 }), false, "samples after warm-up"},
		{"none", nil, false, "no samples"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := rule.Judge("x", "u", c.samples)
			if f.Flat != c.flat || !strings.Contains(f.Why, c.why) {
				t.Fatalf("flat %v (%q), want %v (%q): %+v", f.Flat, f.Why, c.flat, c.why, f)
			}
		})
	}
}
