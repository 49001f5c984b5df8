package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Sizes of the simulated benchmarks; `go test -bench . ./bench/` runs them
// all (10^6 takes about a second per run), benchstat compares two outputs.
var benchSizes = []int{1_000, 10_000, 100_000, 1_000_000}

// BenchmarkRollout is a whole simulated rollout, world building and result
// included. The ≤ 1 s and ≤ 512 B/instance targets read N=1000000 mix=none.
func BenchmarkRollout(b *testing.B) {
	for _, mix := range Mixes {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("mix=%s/N=%d", mix, n), func(b *testing.B) {
				sc, err := SimScenario(n, mix)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				var last SimSample
				for b.Loop() {
					if last, err = RunSim(context.Background(), sc, mix, time.Now); err != nil {
						b.Fatal(err)
					}
				}
				perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(perOp/float64(n), "ns/instance")
				b.ReportMetric(float64(n)/(perOp/1e9), "instances/s")
				b.ReportMetric(float64(last.Bytes)/float64(n), "B/instance")
				b.ReportMetric(last.Makespan.Seconds(), "makespan-s")
				b.ReportMetric(last.MakespanRatio(), "makespan/bound")
				b.ReportMetric(last.CPU.Seconds(), "cpu-s")
			})
		}
	}
}

// BenchmarkPlanner is the planner alone: cutting N instances into batches,
// and every decision of a whole rollout on an in-memory observation.
func BenchmarkPlanner(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("PlanBatches/N=%d", n), func(b *testing.B) {
			in := PlannerFleet(n)
			batch := plan.BatchSize(n, 20)
			b.ReportAllocs()
			for b.Loop() {
				plan.PlanBatches(in, []string{"1", "2", "3"}, "2", batch, false, plan.HealthExtension)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/instance")
		})
		b.Run(fmt.Sprintf("Rollout/N=%d", n), func(b *testing.B) {
			base := PlannerFleet(n)
			in := make([]plan.Instance, n)
			b.ReportAllocs()
			decisions := 0
			for b.Loop() {
				b.StopTimer()
				copy(in, base)
				b.StartTimer()
				d, err := PlannerRollout(in, clock.Epoch)
				if err != nil {
					b.Fatal(err)
				}
				decisions += d
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(decisions), "ns/decision")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/instance")
		})
	}
}
