package soak

import (
	"fmt"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// Sample is one reading of a resource of the server process: At is seconds
// since the soak started.
type Sample struct {
	At    float64 `json:"at"`
	Value float64 `json:"value"`
}

// FlatRule says when a series of samples is flat. The samples of the first
// Warmup share of the run are dropped (start-up: the heap and the
// connection pool grow to their working size). Of the rest, the baseline is
// the median of the first quarter; the series is flat when both
//
//   - the median of the last quarter, and
//   - the baseline plus the growth the least-squares line fitted to every
//     measured sample projects over the measured span
//
// are at most baseline × (1+Rel) + Abs. Medians make one spike (a GC cycle,
// a burst of connections) harmless; the fitted line catches a steady leak
// that the quarters' medians alone would show only late.
type FlatRule struct {
	Warmup float64 // share of the samples dropped first, 0 to <1
	Rel    float64 // allowed relative growth, e.g. 0.2
	Abs    float64 // allowed absolute growth, in the series' unit
}

// Flatness is the judgment of one series.
type Flatness struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	First float64 `json:"first"`
	Last  float64 `json:"last"`
	// SlopePerMinute is the fitted line's slope over the measured samples.
	SlopePerMinute float64 `json:"slopePerMinute"`
	Baseline       float64 `json:"baselineMedian"`
	LastQuarter    float64 `json:"lastQuarterMedian"`
	// Projected is baseline + slope × measured span.
	Projected float64 `json:"projected"`
	Bound     float64 `json:"bound"`
	Measured  int     `json:"measuredSamples"`
	Flat      bool    `json:"flat"`
	// Why says what broke the rule (empty when flat).
	Why string `json:"why,omitempty"`
}

// minMeasured is the fewest samples after warm-up the rule judges: four
// quarters of at least two samples each.
const minMeasured = 8

// Judge applies the rule to samples (in time order).
func (r FlatRule) Judge(name, unit string, samples []Sample) Flatness {
	f := Flatness{Name: name, Unit: unit}
	if len(samples) == 0 {
		f.Why = "no samples"
		return f
	}
	f.First, f.Last = samples[0].Value, samples[len(samples)-1].Value
	skip := int(float64(len(samples)) * r.Warmup)
	m := samples[skip:]
	f.Measured = len(m)
	if len(m) < minMeasured {
		f.Why = fmt.Sprintf("%d samples after warm-up, want at least %d (a longer --duration or a shorter --sample-every)", len(m), minMeasured)
		return f
	}
	q := len(m) / 4
	f.Baseline = median(m[:q])
	f.LastQuarter = median(m[len(m)-q:])
	xs, ys := make([]float64, len(m)), make([]float64, len(m))
	for i, s := range m {
		xs[i], ys[i] = s.At, s.Value
	}
	_, slope := stat.LinearRegression(xs, ys, nil, false)
	f.SlopePerMinute = slope * 60
	f.Projected = f.Baseline + slope*(xs[len(xs)-1]-xs[0])
	f.Bound = f.Baseline*(1+r.Rel) + r.Abs
	v := func(x float64) string { return FormatValue(x, unit) }
	switch {
	case f.LastQuarter > f.Bound:
		f.Why = fmt.Sprintf("%s: last-quarter median %s above the bound %s (first-quarter median %s × %.2f + %s)", name, v(f.LastQuarter), v(f.Bound), v(f.Baseline), 1+r.Rel, v(r.Abs))
	case f.Projected > f.Bound:
		f.Why = fmt.Sprintf("%s: grows %s/min, the fitted line ends at %s, above the bound %s (first-quarter median %s × %.2f + %s)", name, v(f.SlopePerMinute), v(f.Projected), v(f.Bound), v(f.Baseline), 1+r.Rel, v(r.Abs))
	default:
		f.Flat = true
	}
	return f
}

func median(s []Sample) float64 {
	v := make([]float64, len(s))
	for i, x := range s {
		v[i] = x.Value
	}
	slices.Sort(v)
	return stat.Quantile(0.5, stat.LinInterp, v, nil)
}

// FormatValue prints a sample value: bytes in MiB, counts as numbers.
func FormatValue(x float64, unit string) string {
	if unit == "bytes" {
		return fmt.Sprintf("%.1f MiB", x/(1<<20))
	}
	return fmt.Sprintf("%.1f", x)
}
