package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// R-AVAIL-1 across a region, R-ORDER-1: the region's zones go in one order
// for every automatic set of an image, the zones as its sets list them,
// sets taken by name.
func TestRegionZoneOrder(t *testing.T) {
	zonal := func(name, region string, auto bool, zones ...string) FleetSet {
		return FleetSet{Name: name, Region: region, Ref: "img", Auto: auto, Base: "1", Zones: zones}
	}
	for _, tc := range []struct {
		name     string
		sets     []FleetSet
		region   string
		want     []string
		platform map[string][]string // set → PlatformZones of its listed zones
	}{
		{"one set keeps its listed order", []FleetSet{zonal("a", "eastus", true, "3", "1", "2")}, "eastus", []string{"3", "1", "2"},
			map[string][]string{"a": {"3", "1", "2"}}},
		{"the first set by name sets the order; the second follows it",
			[]FleetSet{zonal("b", "eastus", true, "2", "1", "3"), zonal("a", "eastus", true, "1", "2", "3")}, "eastus", []string{"1", "2", "3"},
			map[string][]string{"a": {"1", "2", "3"}, "b": {"1", "2", "3"}}},
		{"zones the first set lacks follow in the next set's order",
			[]FleetSet{zonal("a", "eastus", true, "2"), zonal("b", "eastus", true, "3", "1", "2")}, "eastus", []string{"2", "3", "1"},
			map[string][]string{"a": {"2"}, "b": {"2", "3", "1"}}},
		{"manual-only sets, sets of other regions and sets without zones take no part",
			[]FleetSet{zonal("a", "eastus", false, "3", "2", "1"), zonal("b", "westus", true, "2", "1"), zonal("c", "eastus", true), zonal("d", "eastus", true, "1", "3")}, "eastus", []string{"1", "3"},
			map[string][]string{"c": nil, "d": {"1", "3"}}},
		{"no zonal set: no order", []FleetSet{zonal("c", "eastus", true)}, "eastus", []string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFleetSchedule()
			for _, s := range tc.sets {
				f.Put(s)
			}
			if got := f.RegionZoneOrder(tc.region, "img"); !slices.Equal(got, tc.want) {
				t.Errorf("RegionZoneOrder = %v, want %v", got, tc.want)
			}
			for name, want := range tc.platform {
				i := slices.IndexFunc(tc.sets, func(s FleetSet) bool { return s.Name == name })
				if got := f.PlatformZones(name, tc.sets[i].Zones); !slices.Equal(got, want) {
					t.Errorf("PlatformZones(%s, %v) = %v, want %v", name, tc.sets[i].Zones, got, want)
				}
			}
		})
	}
}

// A change of a set's zones changes the region's order.
func TestRegionZoneOrderFollowsPut(t *testing.T) {
	f := NewFleetSchedule()
	f.Put(FleetSet{Name: "a", Region: "eastus", Ref: "img", Auto: true, Zones: []string{"2", "1"}})
	if got := f.RegionZoneOrder("eastus", "img"); !slices.Equal(got, []string{"2", "1"}) {
		t.Fatalf("order %v, want [2 1]", got)
	}
	f.Put(FleetSet{Name: "a", Region: "eastus", Ref: "img", Auto: true, Zones: []string{"1", "2"}})
	if got := f.RegionZoneOrder("eastus", "img"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("after the zones changed: order %v, want [1 2]", got)
	}
	f.Remove("a")
	if got := f.RegionZoneOrder("eastus", "img"); len(got) != 0 {
		t.Errorf("after the set went: order %v, want none", got)
	}
}

// R-AVAIL-1 across a region, step by step: the region's current zone, its
// holders, the waiters, and who is due when a zone frees.
func TestFleetScheduleAdmitBatch(t *testing.T) {
	f := NewFleetSchedule()
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		f.Put(FleetSet{Name: n, Region: "eastus", Ref: "img", Auto: true, Zones: []string{"1", "2", "3"}})
	}
	admit := func(set, region, version, zone string, want bool) {
		t.Helper()
		if ok, holder, hz, _ := f.AdmitBatch(set, region, "img", version, zone); ok != want {
			t.Fatalf("AdmitBatch(%s, %s, %s, zone %s) = %v (holder %s in %s), want %v", set, region, version, zone, ok, holder, hz, want)
		}
	}
	due := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: due %v, want %v", what, got, want)
		}
	}
	admit("a", "eastus", "2", "1", true) // the first: zone 1 is the region's
	due("a in flight", f.BatchInFlight("a", "eastus", "img", "2", "1", true), nil)
	admit("b", "eastus", "2", "1", true)  // the same zone, nobody waits: together
	admit("c", "eastus", "2", "2", false) // another zone: waits
	admit("d", "westus", "2", "2", true)  // another region
	admit("e", "eastus", "3", "2", true)  // another version
	admit("f", "eastus", "2", "", true)   // no zones: takes no part
	admit("g", "eastus", "2", "1", false) // zone 1, but c waits: no newcomer
	if z, ok := f.Waiting("c", "eastus", "img", "2"); !ok || z != "2" {
		t.Errorf("c waits for (%q, %v), want zone 2", z, ok)
	}
	due("b in flight", f.BatchInFlight("b", "eastus", "img", "2", "1", true), nil)
	due("a between batches", f.BatchInFlight("a", "eastus", "img", "2", "", false), nil)
	admit("a", "eastus", "2", "1", true) // a still holds zone 1 between its batches
	// b moves on to zone 2: it waits too, a still holds zone 1.
	admit("b", "eastus", "2", "2", false)
	if z, ok := f.Holding("a", "eastus", "img", "2"); !ok || z != "1" {
		t.Errorf("a holds (%q, %v), want zone 1", z, ok)
	}
	// a moves on to zone 2, the last to leave zone 1: the region goes to
	// zone 2, every set waiting for it goes; g waits for zone 1's next turn.
	admit("a", "eastus", "2", "2", true)
	due("a left zone 1", f.BatchInFlight("a", "eastus", "img", "2", "2", true), []string{"b", "c"})
	admit("b", "eastus", "2", "2", true)
	admit("c", "eastus", "2", "2", true)
	admit("g", "eastus", "2", "1", false)
	due("a ended", f.RolloutEnded("a", "eastus", "img", "2"), nil)
	due("b ended", f.RolloutEnded("b", "eastus", "img", "2"), nil)
	// c, the last in zone 2, goes to zone 3: the pointer goes round, to
	// zone 3 (c waits for it) before zone 1 (g waits for it).
	admit("c", "eastus", "2", "3", true)
	admit("g", "eastus", "2", "1", false)
	due("c ended", f.RolloutEnded("c", "eastus", "img", "2"), []string{"g"})
	admit("g", "eastus", "2", "1", true)
	due("g ended", f.RolloutEnded("g", "eastus", "img", "2"), nil)
	if len(f.zones) != 2 { // d's and e's
		t.Errorf("%d region-versions kept, want 2 (d, e hold theirs)", len(f.zones))
	}
}

// regionRun plays platform rollouts of one version in one region through
// the fleet schedule, one tick at a time, as the orchestrator would: a set
// asks for its next batch when it has none in flight, a batch lasts its
// set's batch time, and a set admitted while waiting is stepped at once.
// It returns each set's ticks of waiting, and fails the test when two
// zones are ever in flight together or a set never finishes.
type regionSet struct {
	name    string
	arrive  int      // the tick its rollout starts
	batches []string // the zone of each batch, in order
	length  int      // ticks a batch lasts
}

func regionRun(t *testing.T, sets []regionSet, maxTicks int) (waited map[string]int, endedAt map[string]int) {
	t.Helper()
	f := NewFleetSchedule()
	type state struct {
		next     int // the next batch
		endsAt   int // the tick its batch in flight ends; 0: none
		inFlight string
		done     bool
	}
	st := make([]state, len(sets))
	waited, endedAt = map[string]int{}, map[string]int{}
	for tick := 0; tick < maxTicks; tick++ {
		for i := range sets {
			s, x := &sets[i], &st[i]
			if x.done || tick < s.arrive {
				continue
			}
			if x.endsAt == tick && x.inFlight != "" {
				x.inFlight, x.endsAt = "", 0
				f.BatchInFlight(s.name, "eastus", "img", "2", "", false)
			}
			if x.inFlight != "" {
				continue
			}
			if x.next == len(s.batches) {
				x.done = true
				endedAt[s.name] = tick
				f.RolloutEnded(s.name, "eastus", "img", "2")
				continue
			}
			z := s.batches[x.next]
			if ok, _, _, _ := f.AdmitBatch(s.name, "eastus", "img", "2", z); !ok {
				waited[s.name]++
				continue
			}
			x.inFlight, x.endsAt = z, tick+s.length
			x.next++
			f.BatchInFlight(s.name, "eastus", "img", "2", z, true)
		}
		zones := map[string]bool{}
		for i := range st {
			if st[i].inFlight != "" {
				zones[st[i].inFlight] = true
			}
		}
		if len(zones) > 1 {
			t.Fatalf("tick %d: zones %v in flight at once (I-5)", tick, zones)
		}
	}
	for i := range sets {
		if !st[i].done {
			t.Fatalf("%s did not finish in %d ticks (batch %d of %d)", sets[i].name, maxTicks, st[i].next, len(sets[i].batches))
		}
	}
	return waited, endedAt
}

// A set waiting for its zone is not starved. The case: a stream of sets
// arrives, one a tick, each with one zone-1 batch of three ticks, so zone 1
// is never without a batch in flight for 40 ticks; set "b" asks for zone 2
// at tick 1. The first rule (a batch goes while no other zone is in flight)
// kept b waiting until the stream ran dry; now zone 1 takes no newcomer
// once b waits, the three sets in it finish, and b goes.
func TestFleetScheduleAdmitNoStarvation(t *testing.T) {
	sets := []regionSet{{name: "b", arrive: 1, batches: []string{"2"}, length: 3}}
	for k := range 40 {
		sets = append(sets, regionSet{name: fmt.Sprintf("s%02d", k), arrive: k, batches: []string{"1"}, length: 3})
	}
	_, endedAt := regionRun(t, sets, 200)
	if endedAt["b"] > 8 {
		t.Errorf("b ended at tick %d: it waited for the stream of zone-1 sets (want by tick 8: the zone's holders at tick 1 finish by tick 4)", endedAt["b"])
	}
}

// Random regions: sets of one region going through their zones in the
// region's order (a quarter of them in another order, as
// prioritizeUnhealthyInstances may) with random batch counts, lengths and
// arrivals never put
// two zones in flight, always finish, and no set waits longer than the
// bound of the argument in fleet_regions.go: one turn of the zones, each
// turn a zone's holders finishing there.
func TestFleetScheduleAdmitRandomRegions(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var sets []regionSet
		longest := 0
		for k := range 2 + rng.IntN(6) {
			s := regionSet{name: fmt.Sprintf("s%d", k), arrive: rng.IntN(10), length: 1 + rng.IntN(4)}
			zones := []string{"1", "2", "3"}
			if rng.IntN(4) == 0 {
				// prioritizeUnhealthyInstances put another zone first.
				rng.Shuffle(len(zones), func(i, j int) { zones[i], zones[j] = zones[j], zones[i] })
			}
			for _, z := range zones {
				if rng.IntN(4) == 0 {
					continue // the set lacks the zone
				}
				for range 1 + rng.IntN(3) {
					s.batches = append(s.batches, z)
				}
			}
			longest = max(longest, s.length*len(s.batches))
			sets = append(sets, s)
		}
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			waited, _ := regionRun(t, sets, 1000)
			for name, w := range waited {
				// For each of its (at most 3) zones, at most one turn
				// round the 3 zones, each zone drained by holders of at
				// most `longest` ticks of batches, plus the tick of each
				// move.
				if bound := 3 * 3 * (longest + 1); w > bound {
					t.Errorf("%s waited %d ticks, more than %d (sets: %s)", name, w, bound, describe(sets))
				}
			}
		})
	}
}

func describe(sets []regionSet) string {
	var b strings.Builder
	for _, s := range sets {
		fmt.Fprintf(&b, "%s@%d×%d%v ", s.name, s.arrive, s.length, s.batches)
	}
	return b.String()
}
