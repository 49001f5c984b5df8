package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// R-AVAIL-2: paired regions never share a phase; regions go in the
// platform's order, each into the first phase holding none of its pairs.
func TestPhases(t *testing.T) {
	tests := []struct {
		regions []string
		want    [][]string
	}{
		{nil, nil},
		{[]string{"eastus"}, [][]string{{"eastus"}}},
		{[]string{"westus", "eastus"}, [][]string{{"eastus"}, {"westus"}}},
		// eastus pairs with westus and westus3; those two share a phase.
		{[]string{"westus3", "westus", "eastus"}, [][]string{{"eastus"}, {"westus", "westus3"}}},
		{[]string{"westeurope", "uksouth", "northeurope", "uksouth"}, [][]string{{"northeurope", "uksouth"}, {"westeurope"}}},
		// southcentralus pairs with northcentralus and brazilsouth.
		{[]string{"brazilsouth", "southcentralus", "northcentralus"}, [][]string{{"northcentralus", "brazilsouth"}, {"southcentralus"}}},
	}
	for _, tt := range tests {
		got, err := Phases(tt.regions)
		if err != nil {
			t.Fatalf("Phases(%v): %v", tt.regions, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Phases(%v) = %v, want %v", tt.regions, got, tt.want)
		}
	}
	if _, err := Phases([]string{"eastus", "atlantis"}); err == nil {
		t.Error("Phases with an unsupported region: no error")
	}
	all, err := Phases(Regions())
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range all {
		for _, a := range ph {
			for _, b := range ph {
				if Paired(a, b) {
					t.Errorf("paired %s and %s share phase %v", a, b, ph)
				}
			}
		}
	}
}

// R-TRIG-2: the first rollout within 3 hours of enabling (never before
// eligibility), later ones 30 to 60 minutes after eligibility.
func TestPlatformStart(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var asked [][2]time.Duration
	draw := func(frac float64) Draw {
		return func(set, key string, lo, hi time.Duration) time.Duration {
			asked = append(asked, [2]time.Duration{lo, hi})
			return lo + time.Duration(frac*float64(hi-lo))
		}
	}
	tests := []struct {
		name       string
		frac       float64
		firstDone  bool
		enabled    time.Time
		eligible   time.Time
		want       time.Time
		wantLo, hi time.Duration
	}{
		{"first: the window's draw", 0.5, false, t0, t0, t0.Add(90 * time.Minute), 0, FirstRolloutWindow},
		{"first: not before eligibility", 0.1, false, t0, t0.Add(2 * time.Hour), t0.Add(2 * time.Hour), 0, FirstRolloutWindow},
		{"first: window from enabling", 1, false, t0.Add(time.Hour), t0, t0.Add(4 * time.Hour), 0, FirstRolloutWindow},
		{"later: 30 minutes at the least", 0, true, t0, t0.Add(time.Hour), t0.Add(90 * time.Minute), LaterRolloutMin, LaterRolloutMax},
		{"later: 60 minutes at the most", 1, true, t0, t0.Add(time.Hour), t0.Add(2 * time.Hour), LaterRolloutMin, LaterRolloutMax},
	}
	for _, tt := range tests {
		asked = nil
		got := PlatformStart(draw(tt.frac), "s", "2.0.0", tt.firstDone, tt.enabled, tt.eligible)
		if !got.Equal(tt.want) {
			t.Errorf("%s: start %v, want %v", tt.name, got, tt.want)
		}
		if len(asked) != 1 || asked[0] != [2]time.Duration{tt.wantLo, tt.hi} {
			t.Errorf("%s: drew from %v, want [%v %v]", tt.name, asked, tt.wantLo, tt.hi)
		}
	}
}

// R-TRIG-1 (a version available), R-TRIG-5 (not one that failed before).
func TestPlatformCandidate(t *testing.T) {
	tests := []struct {
		name, latest string
		ok           bool
		running      string
		refused      []string
		want         string
		wantOK       bool
	}{
		{"nothing available", "", false, "1.0.0", nil, "", false},
		{"newer", "2.0.0", true, "1.0.0", nil, "2.0.0", true},
		{"numeric order", "1.10.0", true, "1.9.0", nil, "1.10.0", true},
		{"the same", "1.0.0", true, "1.0.0", nil, "", false},
		{"older: never a rollback", "1.0.0", true, "2.0.0", nil, "", false},
		{"failed before: not retried", "2.0.0", true, "1.0.0", []string{"2.0.0"}, "", false},
		{"another failed before", "3.0.0", true, "1.0.0", []string{"2.0.0"}, "3.0.0", true},
	}
	for _, tt := range tests {
		got, ok := PlatformCandidate(tt.latest, tt.ok, tt.running, tt.refused)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: (%q, %v), want (%q, %v)", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

// R-AVAIL-2: a later phase waits until every automatic set of the earlier
// phases completed the version; it is eligible from the last completion.
func TestFleetScheduleEligible(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const img = "Canonical:UbuntuServer:18.04-LTS"
	set := func(name, region string, auto bool) FleetSet {
		return FleetSet{Name: name, Region: region, Ref: img, Auto: auto, Base: "1.0.0"}
	}
	type completion struct {
		set, version string
		at           time.Duration
	}
	tests := []struct {
		name     string
		sets     []FleetSet
		complete []completion
		ask      string
		want     time.Duration // -1: not eligible
	}{
		{"first phase: at publication", []FleetSet{set("e", "eastus", true), set("w", "westus", true)}, nil, "e", 0},
		{"second phase waits", []FleetSet{set("e", "eastus", true), set("w", "westus", true)}, nil, "w", -1},
		{"second phase after the first completed", []FleetSet{set("e", "eastus", true), set("w", "westus", true)}, []completion{{"e", "2.0.0", time.Hour}}, "w", time.Hour},
		{"the last completion of the phase counts", []FleetSet{set("e", "eastus", true), set("e2", "eastus", true), set("w", "westus", true)}, []completion{{"e2", "2.0.0", 2 * time.Hour}, {"e", "2.0.0", time.Hour}}, "w", 2 * time.Hour},
		{"one set of the phase still rolling", []FleetSet{set("e", "eastus", true), set("e2", "eastus", true), set("w", "westus", true)}, []completion{{"e", "2.0.0", time.Hour}}, "w", -1},
		{"a newer version completes the older", []FleetSet{set("e", "eastus", true), set("w", "westus", true)}, []completion{{"e", "3.0.0", time.Hour}}, "w", time.Hour},
		{"an older version does not", []FleetSet{set("e", "eastus", true), set("w", "westus", true)}, []completion{{"e", "1.5.0", time.Hour}}, "w", -1},
		{"a set created on the version has it", []FleetSet{{Name: "e", Region: "eastus", Ref: img, Auto: true, Base: "2.0.0"}, set("w", "westus", true)}, nil, "w", 0},
		{"a set without automatic upgrades holds no phase back", []FleetSet{set("e", "eastus", false), set("w", "westus", true)}, nil, "w", 0},
		{"nor does another image", []FleetSet{{Name: "e", Region: "eastus", Ref: "other", Auto: true, Base: "1.0.0"}, set("w", "westus", true)}, nil, "w", 0},
		{"a set without automatic upgrades is not scheduled", []FleetSet{set("w", "westus", false)}, nil, "w", -1},
		{"an unknown set", nil, nil, "x", -1},
		{"an unsupported region holds everything", []FleetSet{set("e", "eastus", true), set("a", "atlantis", true)}, nil, "e", -1},
	}
	for _, tt := range tests {
		f := NewFleetSchedule()
		for _, s := range tt.sets {
			f.Put(s)
		}
		f.EligibleAt(tt.ask, "2.0.0", t0) // counts kept before the completions: updated
		for _, c := range tt.complete {
			f.Complete(c.set, c.version, t0.Add(c.at))
		}
		got, ok := f.EligibleAt(tt.ask, "2.0.0", t0)
		if tt.want < 0 {
			if ok {
				t.Errorf("%s: eligible at %v, want not eligible", tt.name, got)
			}
			continue
		}
		if !ok || !got.Equal(t0.Add(tt.want)) {
			t.Errorf("%s: (%v, %v), want %v", tt.name, got, ok, t0.Add(tt.want))
		}
	}
}

// Complete names the sets of the phase it opens, and only then.
func TestFleetScheduleCompleteOpensPhase(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFleetSchedule()
	for _, s := range []FleetSet{
		{Name: "e1", Region: "eastus", Ref: "i", Auto: true, Base: "1"},
		{Name: "e2", Region: "eastus", Ref: "i", Auto: true, Base: "1"},
		{Name: "w", Region: "westus", Ref: "i", Auto: true, Base: "1"},
		{Name: "w3", Region: "westus3", Ref: "i", Auto: true, Base: "1"},
	} {
		f.Put(s)
	}
	if _, ok := f.EligibleAt("w", "2", t0); ok {
		t.Fatal("westus eligible before eastus completed")
	}
	if due := f.Complete("e1", "2", t0.Add(time.Hour)); len(due) != 0 {
		t.Errorf("half of eastus completed: due %v, want none", due)
	}
	if due := f.Complete("e2", "2", t0.Add(2*time.Hour)); !slices.Equal(due, []string{"w", "w3"}) {
		t.Errorf("eastus completed: due %v, want [w w3]", due)
	}
	if at, ok := f.EligibleAt("w3", "2", t0); !ok || !at.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("westus3: (%v, %v), want %v", at, ok, t0.Add(2*time.Hour))
	}
}

// Property: the incremental schedule answers as the computation from
// scratch over random fleets, whatever sets come, go, change and complete.
func TestFleetScheduleIncrementalEqualsFromScratch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	regions := Regions()
	versions := []string{"1", "2", "3", "4"}
	refs := []string{"a", "b"}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		f := NewFleetSchedule()
		sets := map[string]FleetSet{}
		nRegions := 1 + rng.IntN(len(regions))
		randomSet := func(name string) FleetSet {
			return FleetSet{Name: name, Region: regions[rng.IntN(nRegions)], Ref: refs[rng.IntN(len(refs))], Auto: rng.IntN(5) > 0, Base: versions[rng.IntN(2)]}
		}
		for i := range 1 + rng.IntN(40) {
			s := randomSet(fmt.Sprintf("s%d", i))
			sets[s.Name] = s
			f.Put(s)
		}
		clock := t0
		for op := range 40 {
			names := make([]string, 0, len(sets))
			for n := range sets {
				names = append(names, n)
			}
			slices.Sort(names)
			switch k := rng.IntN(10); {
			case k < 6 && len(names) > 0:
				n := names[rng.IntN(len(names))]
				v := versions[rng.IntN(len(versions))]
				clock = clock.Add(time.Duration(rng.IntN(120)) * time.Minute)
				f.Complete(n, v, clock)
				s := sets[n]
				s.Completed = append(s.Completed, Completion{Version: v, At: clock})
				s.Base = v
				sets[n] = s
			case k < 8:
				s := randomSet(fmt.Sprintf("s%d", rng.IntN(50)))
				if old, ok := sets[s.Name]; ok {
					s.Base, s.Completed = old.Base, old.Completed
				}
				sets[s.Name] = s
				f.Put(s)
			case len(names) > 0:
				n := names[rng.IntN(len(names))]
				delete(sets, n)
				f.Remove(n)
			}
			all := make([]FleetSet, 0, len(sets))
			for _, s := range sets {
				all = append(all, s)
			}
			slices.SortFunc(all, func(a, b FleetSet) int { return strings.Compare(a.Name, b.Name) })
			for range min(6, len(all)) {
				s := all[rng.IntN(len(all))]
				for _, v := range versions {
					pub := t0.Add(time.Duration(rng.IntN(60)) * time.Minute)
					got, gotOK := f.EligibleAt(s.Name, v, pub)
					want, wantOK := EligibleFromScratch(all, s.Name, v, pub)
					if gotOK != wantOK || !got.Equal(want) {
						t.Fatalf("seed %d op %d: EligibleAt(%s, %s) = (%v, %v), from scratch (%v, %v)", seed, op, s.Name, v, got, gotOK, want, wantOK)
					}
				}
			}
		}
	}
}
