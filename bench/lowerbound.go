package bench

import (
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Bound is the least time a rollout of a whole scale set can take under the
// rules: the batches they force, each one boot plus one health confirmation
// long, and the pauses between them.
type Bound struct {
	Batches  int           `json:"batches"`
	PerBatch time.Duration `json:"perBatch"`
	Total    time.Duration `json:"total"`
}

// LowerBound computes the Bound of upgrading every instance of m. A batch is
// at most BatchSize instances (R-BATCH-1) of one zone and update domain
// (R-BATCH-2, R-AVAIL-1), so each (zone, update domain) group of g instances
// needs ceil(g / size) batches whatever the order. No batch can finish
// before its instances booted (m.BootTime) and the health extension
// confirmed them (the grace period, m.AppHealth.Grace()).
//
// Worked cases (3 zones, 5 update domains, 30 s boot, 5 s grace):
// 10^6 instances -> 15 groups of 66,666 or 66,667, batch size 200,000 ->
// 15 batches, 8m45s; 10 instances (no zones) -> 5 groups of 2, batch size 2
// -> 5 batches, 2m55s; 4 instances, no zones -> batch size 1 -> 4 batches.
func LowerBound(m orchestrator.ScaleSet) Bound {
	size := plan.BatchSize(m.Capacity, m.Rolling.MaxBatchInstancePercent)
	groups := map[[2]int]int{}
	zoneIndex := map[string]int{}
	for i, z := range m.Zones {
		zoneIndex[z] = i
	}
	// Placement is periodic in zones × update domains: count one period
	// and scale, so that 10^6 instances cost a few dozen steps.
	z := max(1, len(m.Zones))
	uds := m.UpdateDomains
	if uds <= 0 {
		uds = 5
	}
	period := z * uds
	full, rest := m.Capacity/period, m.Capacity%period
	for i := range min(period, m.Capacity) {
		zone, ud := m.Placement(i)
		k := [2]int{zoneIndex[zone], ud}
		groups[k] += full
		if i < rest {
			groups[k]++
		}
	}
	b := Bound{PerBatch: m.BootTime + m.AppHealth.Grace()}
	if size == 0 {
		return b
	}
	for _, g := range groups {
		b.Batches += (g + size - 1) / size
	}
	b.Total = time.Duration(b.Batches) * b.PerBatch
	if b.Batches > 1 {
		b.Total += time.Duration(b.Batches-1) * m.Rolling.PauseTimeBetweenBatches
	}
	return b
}
