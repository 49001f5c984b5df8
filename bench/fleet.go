package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// fleetRegions are the 30 regions the fleet case spreads its sets over, in
// the platform's rollout order, and fleetPairs Azure's region pairs among
// them. The bench keeps its own copy of both, so that its lower bound
// shares no code with the scheduler it judges (a checker must not borrow
// the arithmetic it checks).
var fleetRegions = []string{
	"eastus", "westus", "eastus2", "centralus", "northcentralus", "southcentralus",
	"westus2", "westcentralus", "westus3", "brazilsouth", "canadacentral", "canadaeast",
	"northeurope", "westeurope", "uksouth", "ukwest", "francecentral", "francesouth",
	"germanywestcentral", "germanynorth", "eastasia", "southeastasia", "japaneast", "japanwest",
	"koreacentral", "koreasouth", "australiaeast", "australiasoutheast", "centralindia", "southindia",
}

var fleetPairs = [][2]string{
	{"eastus", "westus"}, {"eastus2", "centralus"}, {"northcentralus", "southcentralus"},
	{"westus2", "westcentralus"}, {"westus3", "eastus"}, {"brazilsouth", "southcentralus"},
	{"canadacentral", "canadaeast"}, {"northeurope", "westeurope"}, {"uksouth", "ukwest"},
	{"francecentral", "francesouth"}, {"germanywestcentral", "germanynorth"},
	{"eastasia", "southeastasia"}, {"japaneast", "japanwest"}, {"koreacentral", "koreasouth"},
	{"australiaeast", "australiasoutheast"}, {"centralindia", "southindia"},
}

// fleetZones are every fleet set's availability zones.
var fleetZones = []string{"1", "2", "3"}

// Fleet case defaults: the scenario model's 30 s boot and 5 s health grace
// (the Application Health extension's one 5 s probe), no pause, 20% batches.
const (
	fleetBoot          = 30 * time.Second
	fleetGrace         = 5 * time.Second
	fleetUpdateDomains = 5
	fleetBatchPercent  = 20
)

// FleetScenario is the fleet case: sets scale sets of instances each,
// named fleet-0 … fleet-(sets-1), set k in region fleetRegions[k % 30] with
// zones 1, 2 and 3, all on one platform image; a new version is published
// at 0s and the platform rolls it out (R-TRIG-2's first-rollout window,
// R-AVAIL-2's region phases) with no trigger. Under StandardMix every set
// has 5% of its instances booting 2 minutes slower and 1% reporting an
// unhealthy app for the first 4 hours (the window in which the first
// rollouts start), and 1% of the first set to start its second batch
// crash for 3 minutes.
func FleetScenario(sets, instances int, mix Mix) (*scenario.File, error) {
	if sets < 1 || instances < 1 {
		return nil, fmt.Errorf("bench: fleet of %d sets × %d instances, want at least 1 × 1", sets, instances)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name: bench-fleet-%s-%dx%d\nseed: 1\nscaleSets:\n", mix, sets, instances)
	for k := range sets {
		fmt.Fprintf(&b, "  - {name: fleet-%d, region: %s, instances: %d, zones: [\"1\", \"2\", \"3\"], image: \"Canonical:UbuntuServer:18.04-LTS:latest\", runningVersion: \"1.0.0\"}\n", k, fleetRegions[k%len(fleetRegions)], instances)
	}
	b.WriteString("images:\n  - {image: \"Canonical:UbuntuServer:18.04-LTS:2.0.0\", publishAt: 0s}\n")
	switch mix {
	case FaultFree:
		b.WriteString("expect: {status: Completed, failed: 0, startedBy: Platform}\n")
	case StandardMix:
		b.WriteString(`timeline:
  - {at: 0s, fault: slow-boot, percent: 5, delay: 2m, duration: 48h}
  - {at: 0s, fault: unhealthy, percent: 1, duration: 4h}
  - {on: "batch 2 started", fault: crash, percent: 1, duration: 3m}
expect: {status: Completed, startedBy: Platform}
`)
	default:
		return nil, fmt.Errorf("bench: unknown fault mix %q", mix)
	}
	return scenario.Parse(fmt.Sprintf("bench-fleet-%s-%dx%d.yaml", mix, sets, instances), []byte(b.String()), harness.Vocabulary())
}

// FleetSample is one measured fleet rollout.
type FleetSample struct {
	Sets      int           `json:"sets"`
	Instances int           `json:"instances"` // per set
	Mix       Mix           `json:"mix"`
	Wall      time.Duration `json:"wall"`
	CPU       time.Duration `json:"cpu"`
	Bytes     uint64        `json:"bytes"`
	Allocs    uint64        `json:"allocs"`
	Makespan  FleetMakespan `json:"makespan"`
	Completed int           `json:"completed"` // sets whose rollout completed
}

// FleetMakespan is a fleet rollout on the virtual clock, next to its lower
// bounds.
//
// Total runs from the publication to the end of the last rollout; it holds
// the R-TRIG-2 schedule's waits (the first rollout of a set starts at a
// time drawn within 3 hours; a later phase's sets 30–60 minutes after
// their phase opens), which no controller can shorten. Rolling leaves them
// out: for each region phase, the longest rollout of its sets (start to
// end), summed over the phases. Rolling ÷ a bound is what the controller
// adds to what the rules force.
type FleetMakespan struct {
	Total   time.Duration `json:"total"`
	Rolling time.Duration `json:"rolling"`
	Phases  int           `json:"phases"`
	// Bound: per phase, the slowest set's batches (R-AVAIL-1 within each
	// set); RegionBound: per phase, the slowest region's sum over its
	// zones of the slowest set's batches in that zone (R-AVAIL-1 across
	// the sets of a region: one zone at a time for the whole region).
	Bound       time.Duration `json:"bound"`
	RegionBound time.Duration `json:"regionBound"`
}

// Ratio is Rolling ÷ Bound (0 without a bound).
func (m FleetMakespan) Ratio() float64 { return ratio(m.Rolling, m.Bound) }

// RegionRatio is Rolling ÷ RegionBound (0 without a bound).
func (m FleetMakespan) RegionRatio() float64 { return ratio(m.Rolling, m.RegionBound) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}

// RunFleet runs one whole fleet rollout of sc on the sim and measures it.
func RunFleet(ctx context.Context, sc *scenario.File, mix Mix, wall func() time.Time) (FleetSample, error) {
	if len(sc.ScaleSets) == 0 {
		return FleetSample{}, fmt.Errorf("bench: scenario %s has no scale sets", sc.Name)
	}
	r, c, err := runMeasured(ctx, sc, wall)
	if err != nil {
		return FleetSample{}, err
	}
	s := FleetSample{Sets: len(sc.ScaleSets), Instances: sc.ScaleSets[0].Instances, Mix: mix, Wall: c.wall, CPU: c.cpu, Bytes: c.bytes, Allocs: c.allocs}
	spans := map[string]setSpan{}
	for _, set := range r.ScaleSets {
		if len(set.History) == 0 {
			return FleetSample{}, fmt.Errorf("bench: %s: set %s has no upgrade history", sc.Name, set.Name)
		}
		h := set.History[0].Properties // newest first
		if h.RunningStatus.EndTime == nil {
			return FleetSample{}, fmt.Errorf("bench: %s: the rollout of %s did not end", sc.Name, set.Name)
		}
		if h.RunningStatus.Code == "Completed" {
			s.Completed++
		}
		spans[set.Name] = setSpan{start: h.RunningStatus.StartTime, end: *h.RunningStatus.EndTime}
	}
	shapes := make([]FleetSet, len(sc.ScaleSets))
	for i, set := range sc.ScaleSets {
		shapes[i] = FleetSet{Name: set.Name, Region: set.Region, Zones: len(set.Zones), Instances: set.Instances}
	}
	s.Makespan, err = fleetMakespan(shapes, spans, r.Start)
	if err != nil {
		return FleetSample{}, fmt.Errorf("bench: %s: %w", sc.Name, err)
	}
	return s, nil
}

type setSpan struct{ start, end time.Time }

// fleetMakespan measures the rollout of sets, whose rollouts spanned
// spans, published at published.
func fleetMakespan(sets []FleetSet, spans map[string]setSpan, published time.Time) (FleetMakespan, error) {
	phases, err := FleetPhases(regionsOf(sets))
	if err != nil {
		return FleetMakespan{}, err
	}
	phaseOf := map[string]int{}
	for p, rs := range phases {
		for _, r := range rs {
			phaseOf[r] = p
		}
	}
	m := FleetMakespan{Phases: len(phases), Bound: FleetBound(sets, phases), RegionBound: FleetRegionBound(sets, phases)}
	longest := make([]time.Duration, len(phases))
	var last time.Time
	for _, s := range sets {
		sp, ok := spans[s.Name]
		if !ok {
			return FleetMakespan{}, fmt.Errorf("set %s has no rollout", s.Name)
		}
		longest[phaseOf[s.Region]] = max(longest[phaseOf[s.Region]], sp.end.Sub(sp.start))
		if sp.end.After(last) {
			last = sp.end
		}
	}
	for _, d := range longest {
		m.Rolling += d
	}
	m.Total = last.Sub(published)
	return m, nil
}

func regionsOf(sets []FleetSet) []string {
	var rs []string
	for _, s := range sets {
		rs = append(rs, s.Region)
	}
	return rs
}

// FleetSet is what the lower bounds need of a scale set: its region, how
// many zones it spans (0: none) and its instance count, under the fleet
// case's model (5 update domains, 20% batches, 30 s boot, 5 s grace, no
// pause).
type FleetSet struct {
	Name      string
	Region    string
	Zones     int
	Instances int
}

// FleetPhases groups regions into R-AVAIL-2's phases as SPEC.md states the
// rule: regions in the platform's order, each into the first phase holding
// none of its pairs. Its own arithmetic and its own region table.
func FleetPhases(regions []string) ([][]string, error) {
	present := map[string]bool{}
	for _, r := range regions {
		if !slices.Contains(fleetRegions, r) {
			return nil, fmt.Errorf("region %q is not one of the fleet case's 30", r)
		}
		present[r] = true
	}
	paired := func(a, b string) bool {
		for _, p := range fleetPairs {
			if (p[0] == a && p[1] == b) || (p[0] == b && p[1] == a) {
				return true
			}
		}
		return false
	}
	var phases [][]string
next:
	for _, r := range fleetRegions {
		if !present[r] {
			continue
		}
		for i := range phases {
			clash := false
			for _, o := range phases[i] {
				clash = clash || paired(o, r)
			}
			if !clash {
				phases[i] = append(phases[i], r)
				continue next
			}
		}
		phases = append(phases, []string{r})
	}
	return phases, nil
}

// zoneBatches is how many batches each zone of set s needs at least, the
// zones in order (one entry, zone "", for a set without zones).
//
// Instance i lives in zone i mod z and update domain (i div z) mod 5; a
// batch never mixes zones or update domains (R-AVAIL-1, R-BATCH-2) and
// holds at most max(1, floor(N × 20 / 100)) instances (R-BATCH-1), so a
// (zone, update domain) group of g instances needs ceil(g / size)
// batches.
//
// Worked cases: 100 instances, 3 zones -> groups of 7 or 6, size 20 ->
// 5 batches per zone; 1,000 in 3 zones -> groups of 66 or 67, size 200 ->
// 5 per zone; 4 instances, no zones -> size 1 -> 4 batches; 10 instances,
// no zones -> 5 groups of 2, size 2 -> 5 batches.
func zoneBatches(s FleetSet) []int {
	n := s.Instances
	size := max(1, n*fleetBatchPercent/100)
	z := max(1, s.Zones)
	out := make([]int, z)
	for zone := range z {
		// Instances of this zone: zone, zone+z, …; their count.
		inZone := 0
		if zone < n {
			inZone = (n-1-zone)/z + 1
		}
		// The zone's k-th instance is in update domain k mod 5.
		for ud := range fleetUpdateDomains {
			g := 0
			if ud < inZone {
				g = (inZone-1-ud)/fleetUpdateDomains + 1
			}
			out[zone] += (g + size - 1) / size
		}
	}
	return out
}

// batchesTime is how long b batches take at least, one after another: each
// a boot and a health grace long, no pause between them.
func batchesTime(b int) time.Duration { return time.Duration(b) * (fleetBoot + fleetGrace) }

// FleetBound is the lower bound on a platform rollout over sets:
// for each region phase, the slowest set's batches (its zones one after
// another), summed over the phases, which go one after another.
func FleetBound(sets []FleetSet, phases [][]string) time.Duration {
	var total time.Duration
	for _, ph := range phases {
		var slowest time.Duration
		for _, s := range sets {
			if !slices.Contains(ph, s.Region) {
				continue
			}
			b := 0
			for _, zb := range zoneBatches(s) {
				b += zb
			}
			slowest = max(slowest, batchesTime(b))
		}
		total += slowest
	}
	return total
}

// FleetRegionBound is the lower bound with R-AVAIL-1 across a region: one
// zone of a region at a time for one platform version, so per region the
// sum over zones of the slowest set's batches in that zone; per phase the
// slowest region; summed over the phases. A set without zones counts as
// zone 1 of its region (its one group goes whenever the region's first
// zone does).
func FleetRegionBound(sets []FleetSet, phases [][]string) time.Duration {
	var total time.Duration
	for _, ph := range phases {
		var slowestRegion time.Duration
		for _, region := range ph {
			var perZone []time.Duration // the slowest set's batches in each zone
			for _, s := range sets {
				if s.Region != region {
					continue
				}
				for z, b := range zoneBatches(s) {
					if z >= len(perZone) {
						perZone = append(perZone, 0)
					}
					perZone[z] = max(perZone[z], batchesTime(b))
				}
			}
			var sum time.Duration
			for _, d := range perZone {
				sum += d
			}
			slowestRegion = max(slowestRegion, sum)
		}
		total += slowestRegion
	}
	return total
}
