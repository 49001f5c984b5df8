package bench

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkFleet is a whole fleet rollout on the sim, world building and
// result included: the issue's ≤ 1 s targets read sets=1000/instances=1000
// and sets=10000/instances=100 (mix=none). `-cpuprofile` on one size shows
// where a fleet rollout's time goes.
func BenchmarkFleet(b *testing.B) {
	for _, size := range [][2]int{{10, 100}, {100, 100}, {1000, 100}, {1000, 1000}, {10000, 100}} {
		sets, instances := size[0], size[1]
		b.Run(fmt.Sprintf("mix=%s/sets=%d/instances=%d", FaultFree, sets, instances), func(b *testing.B) {
			sc, err := FleetScenario(sets, instances, FaultFree)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var last FleetSample
			for b.Loop() {
				if last, err = RunFleet(context.Background(), sc, FaultFree, time.Now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(last.Bytes)/float64(sets*instances), "B/instance")
			b.ReportMetric(last.CPU.Seconds(), "cpu-s")
		})
	}
}
