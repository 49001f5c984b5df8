package bench

import (
	"slices"
	"testing"
	"time"
)

func TestZoneBatches(t *testing.T) {
	for _, c := range []struct {
		name string
		set  FleetSet
		want []int
	}{
		{"100 in 3 zones: groups of 7 or 6, size 20", FleetSet{Instances: 100, Zones: 3}, []int{5, 5, 5}},
		{"1000 in 3 zones: groups of 66 or 67, size 200", FleetSet{Instances: 1000, Zones: 3}, []int{5, 5, 5}},
		{"4, no zones: size 1", FleetSet{Instances: 4}, []int{4}},
		{"10, no zones: 5 groups of 2, size 2", FleetSet{Instances: 10}, []int{5}},
		{"2 in 3 zones: the third zone empty", FleetSet{Instances: 2, Zones: 3}, []int{1, 1, 0}},
		{"1000 in 1 zone: groups of 200, size 200", FleetSet{Instances: 1000, Zones: 1}, []int{5}},
		{"1001 in 1 zone: a group of 201, size 200", FleetSet{Instances: 1001, Zones: 1}, []int{6}},
		{"60 in 2 zones: groups of 6, size 12", FleetSet{Instances: 60, Zones: 2}, []int{5, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := zoneBatches(c.set); !slices.Equal(got, c.want) {
				t.Fatalf("zoneBatches(%+v) = %v, want %v", c.set, got, c.want)
			}
		})
	}
}

func TestFleetPhasesKeepPairsApart(t *testing.T) {
	phases, err := FleetPhases(fleetRegions)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, ph := range phases {
		seen += len(ph)
		for _, a := range ph {
			for _, b := range ph {
				for _, p := range fleetPairs {
					if p == [2]string{a, b} {
						t.Fatalf("paired regions %s and %s share a phase: %v", a, b, phases)
					}
				}
			}
		}
	}
	if seen != len(fleetRegions) {
		t.Fatalf("phases hold %d regions, want %d: %v", seen, len(fleetRegions), phases)
	}
	// eastus is paired with westus and westus3, which are not paired with
	// each other: the greedy rule puts both in phase 2.
	if len(phases) != 2 || phases[0][0] != "eastus" || !slices.Contains(phases[1], "westus") || !slices.Contains(phases[1], "westus3") {
		t.Fatalf("phases = %v, want 2 with eastus first and westus, westus3 in the second", phases)
	}
	if _, err := FleetPhases([]string{"atlantis"}); err == nil {
		t.Fatal("an unknown region was accepted")
	}
	got, _ := FleetPhases([]string{"westus", "eastus", "eastus"})
	if want := [][]string{{"eastus"}, {"westus"}}; len(got) != 2 || got[0][0] != want[0][0] || got[1][0] != want[1][0] {
		t.Fatalf("FleetPhases(westus, eastus) = %v, want %v", got, want)
	}
}

func TestFleetBounds(t *testing.T) {
	per := fleetBoot + fleetGrace // 35 s
	sets := []FleetSet{
		{Name: "a", Region: "eastus", Zones: 3, Instances: 100},    // 5+5+5 batches
		{Name: "b", Region: "eastus", Zones: 1, Instances: 1001},   // 6 batches, all in zone 1
		{Name: "c", Region: "westus", Zones: 3, Instances: 2},      // 1+1+0
		{Name: "d", Region: "northeurope", Zones: 0, Instances: 4}, // 4, no zones
	}
	phases, err := FleetPhases(regionsOf(sets))
	if err != nil {
		t.Fatal(err)
	}
	// Phase 1: eastus, northeurope; phase 2: westus.
	if len(phases) != 2 {
		t.Fatalf("phases = %v", phases)
	}
	// Per set: phase 1's slowest is a (15 batches), phase 2's c (2).
	if got, want := FleetBound(sets, phases), 17*per; got != want {
		t.Fatalf("FleetBound = %s, want %s", got, want)
	}
	// Region-wide: eastus is max(5, 6) + 5 + 5 = 16 batches, northeurope
	// 4, so phase 1 takes 16; westus 1 + 1 + 0 = 2.
	if got, want := FleetRegionBound(sets, phases), 18*per; got != want {
		t.Fatalf("FleetRegionBound = %s, want %s", got, want)
	}
}

func TestFleetMakespan(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1_700_000_000+int64(s), 0).UTC() }
	pub := at(0)
	sets := []FleetSet{
		{Name: "a", Region: "eastus", Zones: 3, Instances: 100},
		{Name: "b", Region: "eastus2", Zones: 3, Instances: 100},
		{Name: "c", Region: "westus", Zones: 3, Instances: 100},
	}
	spans := map[string]setSpan{
		"a": {at(600), at(600 + 525)},
		"b": {at(1000), at(1000 + 600)}, // 75 s over its batches
		"c": {at(3600), at(3600 + 525)}, // phase 2
	}
	m, err := fleetMakespan(sets, spans, pub)
	if err != nil {
		t.Fatal(err)
	}
	want := FleetMakespan{Total: 4125 * time.Second, Rolling: (600 + 525) * time.Second, Phases: 2, Bound: 1050 * time.Second, RegionBound: 1050 * time.Second}
	if m != want {
		t.Fatalf("fleetMakespan = %+v, want %+v", m, want)
	}
	if r := m.Ratio(); r < 1.071 || r > 1.072 {
		t.Fatalf("ratio %.4f, want 1125/1050", r)
	}
	delete(spans, "c")
	if _, err := fleetMakespan(sets, spans, pub); err == nil {
		t.Fatal("a set without a rollout was accepted")
	}
}

func TestFleetScenarioShape(t *testing.T) {
	sc, err := FleetScenario(31, 7, StandardMix)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.ScaleSets) != 31 || sc.ScaleSets[30].Region != fleetRegions[0] || sc.ScaleSets[29].Region != fleetRegions[29] || sc.ScaleSets[5].Instances != 7 || len(sc.ScaleSets[0].Zones) != 3 {
		t.Fatalf("scale sets: %+v", sc.ScaleSets[:2])
	}
	if len(sc.Timeline) != 3 {
		t.Fatalf("standard mix timeline: %+v", sc.Timeline)
	}
	if _, err := FleetScenario(0, 7, FaultFree); err == nil {
		t.Fatal("0 sets accepted")
	}
	if _, err := FleetScenario(1, 1, "chaos"); err == nil {
		t.Fatal("an unknown mix accepted")
	}
}

func TestQuantileCI(t *testing.T) {
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = float64(1000 - i) // 1..1000, reversed
	}
	q := quantileCI("x", xs, 0.99)
	// n·p = 990, half width 1.96·√9.9 ≈ 6.2: ranks 983 and 997.
	if q.Value != 990 || q.CILo != 983 || q.CIHi != 997 || q.N != 1000 {
		t.Fatalf("p99 = %+v", q)
	}
	q = quantileCI("x", xs, 0.5)
	if q.Value != 500 || q.CILo >= 500 || q.CIHi <= 500 {
		t.Fatalf("p50 = %+v", q)
	}
	if q := quantileCI("x", nil, 0.5); q.N != 0 || q.Value != 0 {
		t.Fatalf("empty = %+v", q)
	}
	q = quantileCI("x", []float64{3}, 0.99)
	if q.Value != 3 || q.CILo != 3 || q.CIHi != 3 {
		t.Fatalf("one sample = %+v", q)
	}
}
