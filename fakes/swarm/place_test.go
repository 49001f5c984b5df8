package swarm

import (
	"testing"

	"github.com/osupgrade/osupgrade/orchestrator"
)

// Each instance goes to a node of its zone, the zone's nodes in turn; a set
// without zones spreads over every node; a zone with no node is an error.
func TestPlacePinsEachInstanceToANodeOfItsZone(t *testing.T) {
	f := &Fleet{nodes: []node{{id: "a", zone: "1"}, {id: "b", zone: "2"}, {id: "c", zone: "3"}, {id: "d", zone: "1"}}}
	tests := []struct {
		name  string
		zones []string
		want  []string
	}{
		{"three zones", []string{"1", "2", "3"}, []string{"a", "b", "c", "d", "b", "c", "a"}},
		{"one zone, two nodes", []string{"1"}, []string{"a", "d", "a", "d"}},
		{"no zones", nil, []string{"a", "b", "c", "d", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := orchestrator.ScaleSet{Name: "s", Capacity: len(tc.want), Zones: tc.zones, UpdateDomains: 5}
			for i, want := range tc.want {
				got, err := f.place(m, i)
				if err != nil || got != want {
					t.Fatalf("instance %d: node %q, %v; want %q", i, got, err, want)
				}
			}
		})
	}
	if _, err := f.place(orchestrator.ScaleSet{Name: "s", Capacity: 1, Zones: []string{"9"}}, 0); err == nil {
		t.Fatal("zone 9 has no node: want an error")
	}
}
