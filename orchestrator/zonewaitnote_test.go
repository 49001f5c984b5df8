package orchestrator

import (
	"strings"
	"testing"
)

// The journal's reason for a wait names what the fleet schedule refused on:
// another zone of the region, or the set's own zone while it drains.
func TestZoneWaitNote(t *testing.T) {
	tests := []struct {
		name string
		wait zoneWait
		want []string
		not  []string
	}{
		{
			name: "region in another zone",
			wait: zoneWait{batch: 2, zone: "2", holder: "a", holderZone: "1"},
			want: []string{"batch 2 in zone 2", NoteZoneWait, "eastus is in zone 1 for 1.1", "held by a"},
			not:  []string{"drains"},
		},
		{
			name: "own zone drains",
			wait: zoneWait{batch: 1, zone: "1", holder: "a", holderZone: "1"},
			want: []string{"batch 1 in zone 1", NoteZoneWait, "zone 1 is eastus's zone for 1.1", "until it drains", "a is still in it"},
			not:  []string{"held by"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := zoneWaitNote(&tt.wait, "1.1", "eastus")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("note %q lacks %q", got, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("note %q has %q", got, n)
				}
			}
		})
	}
}
