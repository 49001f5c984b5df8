package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// regionStep is one thing the fleet or the world tells the journal, at a
// time after the scenario's start: a rollout begins (platform or user), an
// instance is reimaged to a version, or reports healthy on one.
type regionStep struct {
	at      time.Duration
	do      string // "platform", "user", "reimage", "healthy"
	set     string
	id      int
	version string
}

// regionSets: instance i of a zonal set is in zone zones[i%3] ("1", "2",
// "3"); one update domain, three instances, batches of one.
func regionSets() []orchestrator.ScaleSet {
	ubuntu := orchestrator.ImageReference{Publisher: "Canonical", Offer: "UbuntuServer", SKU: "18.04-LTS", Version: "latest"}
	debian := orchestrator.ImageReference{Publisher: "Debian", Offer: "debian-12", SKU: "12", Version: "latest"}
	zones := []string{"1", "2", "3"}
	set := func(name, region string, zones []string, img orchestrator.ImageReference) orchestrator.ScaleSet {
		return orchestrator.ScaleSet{Name: name, Region: region, Zones: zones, Capacity: 3, UpdateDomains: 1, Image: img, Health: plan.HealthExtension, Rolling: plan.DefaultRollingUpgradePolicy()}
	}
	return []orchestrator.ScaleSet{
		set("a", "eastus", zones, ubuntu),
		set("b", "eastus", zones, ubuntu),
		set("west", "westus", zones, ubuntu),
		set("flat", "eastus", nil, ubuntu),
		set("deb", "eastus", zones, debian),
	}
}

// TestJournalRegionWideAvailability is I-5's region-wide form of R-AVAIL-1:
// one automatic rollout's version is never upgrading in two zones of a
// region at once, counted from the fleet's reimages by set, zone, version
// and time; user-started rollouts, sets without zones and rollbacks do not
// count.
func TestJournalRegionWideAvailability(t *testing.T) {
	const minute = time.Minute
	start := func(sets ...string) []regionStep {
		var out []regionStep
		for _, s := range sets {
			out = append(out, regionStep{do: "platform", set: s})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		steps []regionStep
		want  string // a fragment of the I-5 violation, "" for none
	}{
		{"two sets, zones 1 and 2 at once", append(start("a", "b"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{10 * time.Second, "reimage", "b", 1, "2"},
		), `b instance 1 (zone "2") began upgrading to 2 while zone "1"`},
		{"two sets, one zone at once", append(start("a", "b"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{10 * time.Second, "reimage", "b", 0, "2"},
		), ""},
		{"zone 1 healthy before zone 2 begins", append(start("a", "b"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{35 * time.Second, "healthy", "a", 0, "2"},
			regionStep{35 * time.Second, "reimage", "b", 1, "2"},
		), ""},
		{"zone 2 begins while zone 1's second set is still upgrading", append(start("a", "b"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{5 * time.Second, "reimage", "b", 0, "2"},
			regionStep{35 * time.Second, "healthy", "a", 0, "2"},
			regionStep{36 * time.Second, "reimage", "a", 1, "2"},
		), `a instance 1 (zone "2") began upgrading to 2 while zone "1" of the region was upgrading to it (b instance 0`},
		{"three zones of one set's instances, each after the last", append(start("a"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{35 * time.Second, "healthy", "a", 0, "2"},
			regionStep{35 * time.Second, "reimage", "a", 1, "2"},
			regionStep{70 * time.Second, "healthy", "a", 1, "2"},
			regionStep{70 * time.Second, "reimage", "a", 2, "2"},
		), ""},
		{"another region", append(start("a", "west"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{10 * time.Second, "reimage", "west", 1, "2"},
		), ""},
		{"another version", append(start("a", "b"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{10 * time.Second, "reimage", "b", 1, "3"},
		), ""},
		{"another image, same version string", append(start("a", "deb"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{10 * time.Second, "reimage", "deb", 1, "2"},
		), ""},
		{"a set without zones is in no zone", append(start("a", "flat", "b"),
			regionStep{0, "reimage", "flat", 1, "2"},
			regionStep{5 * time.Second, "reimage", "a", 1, "2"},
			regionStep{10 * time.Second, "reimage", "flat", 2, "2"},
			regionStep{40 * time.Second, "healthy", "a", 1, "2"},
			regionStep{41 * time.Second, "reimage", "b", 2, "2"},
		), ""},
		{"a user-started rollout binds its own set only", append(start("a"),
			regionStep{do: "user", set: "b"},
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{10 * time.Second, "reimage", "b", 1, "2"},
		), ""},
		{"a platform rollout after a user-started one counts again", append(start("a"),
			regionStep{do: "user", set: "b"},
			regionStep{0, "reimage", "b", 0, "2"},
			regionStep{35 * time.Second, "healthy", "b", 0, "2"},
			regionStep{1 * minute, "platform", "b", 0, ""},
			regionStep{1 * minute, "reimage", "a", 0, "3"},
			regionStep{1*minute + 10*time.Second, "reimage", "b", 1, "3"},
		), `b instance 1 (zone "2") began upgrading to 3`},
		{"a rollback is no upgrade", append(start("a", "b"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{4 * minute, "reimage", "a", 0, "1"},
			regionStep{4*minute + 10*time.Second, "reimage", "b", 1, "2"},
		), ""},
		{"an upgrade never healthy holds its zone for the 5-minute wait", append(start("a", "b"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{4*minute + 59*time.Second, "reimage", "b", 1, "2"},
		), `b instance 1 (zone "2")`},
		{"an upgrade never healthy holds its zone no longer than the wait", append(start("a", "b"),
			regionStep{0, "reimage", "a", 0, "2"},
			regionStep{5*minute + time.Second, "reimage", "b", 1, "2"},
		), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := NewJournal(0)
			for _, m := range regionSets() {
				j.AddSet(m, "1")
			}
			t0 := clock.Epoch
			for _, st := range tc.steps {
				at := t0.Add(st.at)
				switch st.do {
				case "platform":
					j.BeginRollout(st.set, at)
				case "user":
					j.BeginUserRollout(st.set, at)
				case "reimage":
					j.StepBegins()
					j.Reimage(at, st.set, st.id, st.version)
				case "healthy":
					j.State(at, st.set, plan.Instance{ID: st.id, Version: st.version, Running: true, Provisioning: plan.ProvisioningSucceeded, Health: plan.HealthHealthy})
				default:
					t.Fatalf("unknown step %q", st.do)
				}
			}
			j.Finish(t0.Add(time.Hour))
			v := j.violations["I-5"]
			switch {
			case tc.want == "" && v != nil:
				t.Fatalf("I-5 violated: %v", v.first)
			case tc.want != "" && v == nil:
				t.Fatalf("I-5 holds, want a violation naming %q; summary: %s", tc.want, j.regionSummary())
			case tc.want != "" && !strings.Contains(strings.Join(v.first, "\n"), tc.want):
				t.Fatalf("I-5 violation %q does not name %q", v.first, tc.want)
			}
		})
	}
}

// BenchmarkJournalUpgrade is the journal's cost of one upgrade (reimage,
// then healthy) of a 3-zone set, in an automatic rollout (counted in the
// region's zones) and in a user-started one (not): the difference is the
// region-wide check's cost per upgrade.
func BenchmarkJournalUpgrade(b *testing.B) {
	for _, user := range []bool{false, true} {
		name := "platform"
		if user {
			name = "user"
		}
		b.Run(name, func(b *testing.B) {
			const n = 1 << 16
			m := orchestrator.ScaleSet{Name: "huge", Region: "eastus", Zones: []string{"1", "2", "3"}, Capacity: n, UpdateDomains: 5, Image: orchestrator.ImageReference{Publisher: "Canonical", Offer: "UbuntuServer", SKU: "18.04-LTS"}, Health: plan.HealthExtension, Rolling: plan.DefaultRollingUpgradePolicy()}
			j := NewJournal(0)
			j.AddSet(m, "1")
			t0 := clock.Epoch
			versions := [2]string{"1", "2"}
			round := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				id := i % n
				if id == 0 {
					round++
					if user {
						j.BeginUserRollout("huge", t0)
					} else {
						j.BeginRollout("huge", t0)
					}
				}
				v := versions[round%2]
				at := t0.Add(time.Duration(i) * time.Millisecond)
				j.Reimage(at, "huge", id, v)
				j.State(at, "huge", plan.Instance{ID: id, Version: v, Running: true, Provisioning: plan.ProvisioningSucceeded, Health: plan.HealthHealthy})
			}
		})
	}
}

// The Docker report (a region-zones run counted 5 of a set's 6 batches):
// an orchestrator step makes several passes at one time when a rollout
// ends or a zone frees, and on Docker a batch's instance can report healthy
// before the next pass observes it; the planner then closes the batch and
// starts the next one within the same step. Grouping reimages by step
// alone folded the two batches into one. The planner observes a set before
// every decision, so an observation between two reimages separates them.
func TestJournalBatchesWithinOneStep(t *testing.T) {
	healthy := func(id int, v string) plan.Instance {
		return plan.Instance{ID: id, Version: v, Running: true, Provisioning: plan.ProvisioningSucceeded, Health: plan.HealthHealthy}
	}
	observed := func(versions ...string) []plan.Instance {
		out := make([]plan.Instance, len(versions))
		for i, v := range versions {
			out[i] = healthy(i, v)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		observe bool // the planner observed b between its two reimages of the step
		want    int
	}{
		{"an observation between: two decisions, two batches", true, 3},
		{"no observation between: one decision's reimages, one batch", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := NewJournal(0)
			for _, m := range regionSets() {
				j.AddSet(m, "1")
			}
			t0 := clock.Epoch
			j.BeginRollout("b", t0)
			j.StepBegins()
			j.Observed(t0, "b", observed("1", "1", "1"))
			j.Reimage(t0, "b", 0, "2")
			// The same step, a later pass at the same time: instance 0 is
			// healthy already, batch 2 begins.
			j.State(t0, "b", healthy(0, "2"))
			if tc.observe {
				j.Observed(t0, "b", observed("2", "1", "1"))
			}
			j.Reimage(t0, "b", 1, "2")
			j.State(t0.Add(time.Second), "b", healthy(1, "2"))
			j.StepBegins()
			j.Observed(t0.Add(35*time.Second), "b", observed("2", "2", "1"))
			j.Reimage(t0.Add(35*time.Second), "b", 2, "2")
			j.State(t0.Add(70*time.Second), "b", healthy(2, "2"))
			j.Finish(t0.Add(time.Hour))
			if got := j.set("b").batches; got != tc.want {
				t.Errorf("the journal counted %d batches of b, want %d", got, tc.want)
			}
		})
	}
}
