package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// R-BATCH-1: the batch fencepost, with the worked examples of BatchSize.
func TestBatchSize_RBATCH1(t *testing.T) {
	for _, c := range []struct{ n, pct, want int }{
		{0, 20, 0}, {1, 20, 1}, {2, 20, 1}, {5, 20, 1}, {6, 20, 1}, {9, 20, 1}, {10, 20, 2},
		{11, 20, 2}, {14, 20, 2}, {15, 20, 3}, {99, 20, 19}, {100, 20, 20}, {101, 20, 20},
		{1000, 20, 200}, {10, 5, 1}, {10, 100, 10}, {7, 50, 3},
	} {
		if got := BatchSize(c.n, c.pct); got != c.want {
			t.Errorf("BatchSize(%d, %d%%) = %d, want %d", c.n, c.pct, got, c.want)
		}
	}
}

// Percentages are integers: "more than 20% of N" is 5x > N.
func TestExceeds(t *testing.T) {
	for _, c := range []struct {
		x, n, pct int
		want      bool
	}{
		{2, 10, 20, false}, {3, 10, 20, true}, {20, 100, 20, false}, {21, 100, 20, true},
		{1, 5, 20, false}, {2, 9, 20, true}, {1, 9, 20, false}, {0, 0, 20, false}, {1, 1, 0, true}, {0, 1, 0, false},
	} {
		if got := Exceeds(c.x, c.n, c.pct); got != c.want {
			t.Errorf("Exceeds(%d, %d, %d%%) = %v, want %v", c.x, c.n, c.pct, got, c.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	base := DefaultPolicy()
	for _, c := range []struct {
		name  string
		edit  func(*Policy)
		field string
	}{
		{"batch 4%", func(p *Policy) { p.MaxBatchInstancePercent = 4 }, "maxBatchInstancePercent"},
		{"batch 101%", func(p *Policy) { p.MaxBatchInstancePercent = 101 }, "maxBatchInstancePercent"},
		{"unhealthy 120%", func(p *Policy) { p.MaxUnhealthyInstancePercent = 120 }, "maxUnhealthyInstancePercent"},
		{"upgraded -1%", func(p *Policy) { p.MaxUnhealthyUpgradedInstancePercent = -1 }, "maxUnhealthyUpgradedInstancePercent"},
		{"negative pause", func(p *Policy) { p.PauseTimeBetweenBatches = -time.Second }, "pauseTimeBetweenBatches"},
		{"pause over a day", func(p *Policy) { p.PauseTimeBetweenBatches = MaxPauseTimeBetweenBatches + time.Second }, "pauseTimeBetweenBatches"},
		{"health mode unknown", func(p *Policy) { p.HealthMode = HealthNone + 1 }, "healthMode"},
	} {
		p := base
		c.edit(&p)
		err := p.Validate()
		pe, ok := err.(*PolicyError)
		if !ok || pe.Field != c.field {
			t.Errorf("%s: Validate() = %v, want a PolicyError on %s", c.name, err, c.field)
		}
	}
	if err := base.Validate(); err != nil {
		t.Errorf("default policy: %v", err)
	}
	p := base
	p.PauseTimeBetweenBatches = MaxPauseTimeBetweenBatches
	if err := p.Validate(); err != nil {
		t.Errorf("a pause of exactly %s is allowed: %v", MaxPauseTimeBetweenBatches, err)
	}
	p = base
	p.MaxUnhealthyUpgradedInstancePercent = 0
	if err := p.Validate(); err != nil {
		t.Errorf("maxUnhealthyUpgradedInstancePercent 0 is allowed: %v", err)
	}
}

// fleet builds n healthy instances placed like a scale set: zone zones[i%z],
// update domain (i/z)%uds.
func fleet(n int, zones []string, uds int, version string) []Instance {
	out := make([]Instance, n)
	z := max(1, len(zones))
	for i := range out {
		zone := ""
		if len(zones) > 0 {
			zone = zones[i%z]
		}
		out[i] = Instance{ID: i, Zone: zone, UpdateDomain: (i / z) % uds, Version: version, Running: true, Health: HealthHealthy}
	}
	return out
}

// R-BATCH-2, R-ORDER-1, R-AVAIL-1: batches never mix zones or update
// domains, go zone by zone in listed order, update domains ascending, ids
// ascending; a large update domain is split.
func TestPlanBatches_Order_RBATCH2_RORDER1_RAVAIL1(t *testing.T) {
	ins := fleet(12, []string{"2", "1", "3"}, 2, "v1")
	order, batches := PlanBatches(ins, []string{"2", "1", "3"}, "v2", 1, false, HealthExtension)
	var got []string
	for _, b := range batches {
		var ids []int32
		for _, i := range order[b.From:b.To] {
			ids = append(ids, i)
		}
		got = append(got, fmt.Sprintf("z%s/ud%d:%v", b.Zone, b.UpdateDomain, ids))
	}
	want := []string{
		// instance i: zone ["2","1","3"][i%3], update domain (i/3)%2
		"z2/ud0:[0]", "z2/ud0:[6]", "z2/ud1:[3]", "z2/ud1:[9]",
		"z1/ud0:[1]", "z1/ud0:[7]", "z1/ud1:[4]", "z1/ud1:[10]",
		"z3/ud0:[2]", "z3/ud0:[8]", "z3/ud1:[5]", "z3/ud1:[11]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("batches\n got %v\nwant %v", got, want)
	}
	// A 100-instance set, 5 UDs of 20: batch size 20 fits one UD per batch;
	// batch size 15 splits each UD into 15 + 5.
	ins = fleet(100, nil, 5, "v1")
	_, batches = PlanBatches(ins, nil, "v2", 15, false, HealthExtension)
	var sizes []int
	for _, b := range batches {
		sizes = append(sizes, b.Len())
	}
	if want := []int{15, 5, 15, 5, 15, 5, 15, 5, 15, 5}; !slices.Equal(sizes, want) {
		t.Errorf("split sizes %v, want %v", sizes, want)
	}
}

// R-TRIG-3: instances already on the target are skipped.
func TestPlanBatches_SkipsInstancesOnTarget_RTRIG3(t *testing.T) {
	ins := fleet(10, nil, 5, "v1")
	ins[3].Version, ins[8].Version = "v2", "v2"
	order, _ := PlanBatches(ins, nil, "v2", 2, false, HealthExtension)
	if slices.Contains(order, 3) || slices.Contains(order, 8) || len(order) != 8 {
		t.Errorf("order %v should skip 3 and 8", order)
	}
}

// R-ORDER-1 with prioritizeUnhealthyInstances: unhealthy first, zones and
// update domains still never mixed.
func TestPlanBatches_PrioritizeUnhealthy_RORDER1(t *testing.T) {
	ins := fleet(12, []string{"1", "2"}, 3, "v1")
	ins[9].Health = HealthUnhealthy // zone 2, ud 1
	ins[11].Running = false         // zone 2, ud 2
	order, batches := PlanBatches(ins, []string{"1", "2"}, "v2", 2, true, HealthExtension)
	if order[0] != 9 && order[0] != 11 {
		t.Fatalf("order %v: an unhealthy instance should go first", order)
	}
	if batches[0].Zone != "2" {
		t.Errorf("first batch in zone %s, want the zone holding the unhealthy instances", batches[0].Zone)
	}
	for _, b := range batches {
		for _, i := range order[b.From:b.To] {
			if ins[i].Zone != b.Zone || ins[i].UpdateDomain != b.UpdateDomain {
				t.Errorf("batch %+v holds instance %d of zone %s ud %d", b, i, ins[i].Zone, ins[i].UpdateDomain)
			}
		}
	}
	// Zones stay contiguous: once zone 1 starts, zone 2 does not come back.
	seen := map[string]bool{}
	last := ""
	for _, b := range batches {
		if b.Zone != last && seen[b.Zone] {
			t.Errorf("zone %s revisited", b.Zone)
		}
		seen[b.Zone], last = true, b.Zone
	}
}

// A rollout journaled by the previous release holds its policy under Go's
// field names, before the rolling knobs had a type of their own: it still
// decodes (encoding/json matches names case-insensitively, through the
// embedded RollingUpgradePolicy).
func TestPolicyDecodesPreviousJSON(t *testing.T) {
	old := `{"MaxBatchInstancePercent":50,"MaxUnhealthyInstancePercent":30,"MaxUnhealthyUpgradedInstancePercent":0,"PauseTimeBetweenBatches":60000000000,"PrioritizeUnhealthyInstances":true,"DisableAutomaticRollback":true,"HealthMode":2}`
	var p Policy
	if err := json.Unmarshal([]byte(old), &p); err != nil {
		t.Fatal(err)
	}
	want := Policy{RollingUpgradePolicy: RollingUpgradePolicy{50, 30, 0, time.Minute, true}, DisableAutomaticRollback: true, HealthMode: 2}
	if p != want {
		t.Errorf("decoded %+v, want %+v", p, want)
	}
}
