package bench

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// QuantileDefinition names how P50 and P95 are computed: gonum's
// stat.Quantile with stat.Empirical on sorted samples, the lowest sample q
// with at least a fraction p of the samples ≤ q (the inverse of the
// empirical CDF, Hyndman & Fan type 1, numpy's "inverted_cdf"; not numpy's
// default linear type 7).
const QuantileDefinition = "empirical CDF inverse (Hyndman–Fan type 1, numpy inverted_cdf): gonum stat.Quantile(p, stat.Empirical) on sorted samples"

// Summary describes repeated measurements of one quantity.
type Summary struct {
	Unit string  `json:"unit"`
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	// CILo and CIHi bound the 95% confidence interval of the mean
	// (Student t with N-1 degrees of freedom); equal to Mean when N < 2.
	CILo float64 `json:"ciLo"`
	CIHi float64 `json:"ciHi"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// Summarize computes a Summary of xs (in unit). Empty xs give a zero Summary.
func Summarize(unit string, xs []float64) Summary {
	s := Summary{Unit: unit, N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	s.Mean = stat.Mean(sorted, nil)
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	s.P50 = stat.Quantile(0.50, stat.Empirical, sorted, nil)
	s.P95 = stat.Quantile(0.95, stat.Empirical, sorted, nil)
	s.CILo, s.CIHi = s.Mean, s.Mean
	if len(xs) >= 2 {
		s.SD = stat.StdDev(sorted, nil)
		half := tCritical(len(xs)-1) * s.SD / math.Sqrt(float64(len(xs)))
		s.CILo, s.CIHi = s.Mean-half, s.Mean+half
	}
	return s
}

// tCritical is the two-sided 95% critical value of Student's t with df
// degrees of freedom.
func tCritical(df int) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(0.975)
}

// Ratio is the geometric-mean ratio of paired measurements a_i / b_i with
// a 95% confidence interval: the Student t interval of the mean log ratio,
// exponentiated. Pairs come from alternating repetitions, so drift in the
// machine affects both sides of each pair alike.
type Ratio struct {
	Of    string  `json:"of"`
	To    string  `json:"to"`
	N     int     `json:"n"`
	Ratio float64 `json:"ratio"`
	CILo  float64 `json:"ciLo"`
	CIHi  float64 `json:"ciHi"`
}

// PairedRatio computes the Ratio of a to b; both must be positive and of one
// length.
func PairedRatio(of, to string, a, b []float64) (Ratio, error) {
	if len(a) != len(b) || len(a) == 0 {
		return Ratio{}, fmt.Errorf("bench: ratio %s/%s needs paired samples, have %d and %d", of, to, len(a), len(b))
	}
	logs := make([]float64, len(a))
	for i := range a {
		if a[i] <= 0 || b[i] <= 0 {
			return Ratio{}, fmt.Errorf("bench: ratio %s/%s: sample %d is not positive (%v, %v)", of, to, i, a[i], b[i])
		}
		logs[i] = math.Log(a[i] / b[i])
	}
	s := Summarize("log", logs)
	return Ratio{Of: of, To: to, N: len(a), Ratio: math.Exp(s.Mean), CILo: math.Exp(s.CILo), CIHi: math.Exp(s.CIHi)}, nil
}

// summary is the ratio as a Summary for a baseline comparison: its
// geometric mean and interval; zero (not compared) when r is nil.
func (r *Ratio) summary() Summary {
	if r == nil {
		return Summary{}
	}
	return Summary{Unit: "ratio", N: r.N, Mean: r.Ratio, CILo: r.CILo, CIHi: r.CIHi}
}

// Growth is cost ∝ N^Exponent fitted by least squares on log–log data.
type Growth struct {
	Quantity string  `json:"quantity"`
	Exponent float64 `json:"exponent"`
	// Intercept is log(cost) at N = 1.
	Intercept float64 `json:"intercept"`
	R2        float64 `json:"r2"`
	Points    int     `json:"points"`
}

// FitGrowth fits log(cost) = Intercept + Exponent·log(n) with gonum's
// stat.LinearRegression, and its R² with stat.RSquared. Every n and cost
// must be positive; at least two distinct n are needed.
func FitGrowth(quantity string, n, cost []float64) (Growth, error) {
	if len(n) != len(cost) || len(n) < 2 {
		return Growth{}, fmt.Errorf("bench: growth of %s needs two or more points, have %d", quantity, min(len(n), len(cost)))
	}
	lx, ly := make([]float64, len(n)), make([]float64, len(n))
	for i := range n {
		if n[i] <= 0 || cost[i] <= 0 {
			return Growth{}, fmt.Errorf("bench: growth of %s: point %d (%v, %v) is not positive", quantity, i, n[i], cost[i])
		}
		lx[i], ly[i] = math.Log(n[i]), math.Log(cost[i])
	}
	if slices.Min(lx) == slices.Max(lx) {
		return Growth{}, fmt.Errorf("bench: growth of %s needs two distinct sizes", quantity)
	}
	alpha, beta := stat.LinearRegression(lx, ly, nil, false)
	return Growth{Quantity: quantity, Exponent: beta, Intercept: alpha, R2: stat.RSquared(lx, ly, nil, alpha, beta), Points: len(n)}, nil
}

// Overlap says how a current measurement compares with its baseline.
type Verdict string

const (
	Same       Verdict = "same"       // the confidence intervals overlap
	Regression Verdict = "regression" // worse, and the intervals do not overlap
	Better     Verdict = "better"     // better, and the intervals do not overlap
	// Untold: one side has fewer than 2 samples, so no interval to compare.
	Untold Verdict = "no interval"
	// EngineBound: a Docker wall time, shown but not judged: it follows the
	// engine's speed, which differs between machines and days more than
	// our code's cost does; ours ÷ limit, from the same turns, is judged.
	EngineBound Verdict = "engine's speed, not judged"
	// OtherEngine: a Docker ratio against a baseline whose engine recreated
	// the containers faster or slower (the limit's intervals do not overlap).
	OtherEngine Verdict = "other engine speed, not judged"
	// OtherCPU: a time the baseline measured on another CPU model.
	OtherCPU Verdict = "other CPU, not judged"
)

// Compare compares cur with base for a quantity where lower is better
// (time, bytes): a regression only when cur's whole interval lies above
// base's.
func Compare(cur, base Summary) Verdict {
	switch {
	case cur.N < 2 || base.N < 2:
		return Untold
	case cur.CILo > base.CIHi:
		return Regression
	case cur.CIHi < base.CILo:
		return Better
	}
	return Same
}
