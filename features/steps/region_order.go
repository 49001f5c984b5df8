package steps

import (
	"fmt"
	"strings"
)

// setZonesInOrder: the named set's latest rollout visited each zone once,
// in the given order. For a platform rollout that is its region's zone
// order (R-AVAIL-1 across a region, R-ORDER-1); for one the user started,
// the set's own listed order.
func (s *state) setZonesInOrder(set, list string) error {
	sr, err := s.setResult(set)
	if err != nil {
		return err
	}
	var seen []string
	for _, b := range lastBatches(sr) {
		if len(seen) > 0 && seen[len(seen)-1] == b.Zone {
			continue
		}
		if contains(seen, b.Zone) {
			return fmt.Errorf("%s: the rollout came back to zone %q after leaving it (zones in batch order: %s)", set, b.Zone, strings.Join(seen, ", "))
		}
		seen = append(seen, b.Zone)
	}
	if want := names(list); strings.Join(seen, ",") != strings.Join(want, ",") {
		return fmt.Errorf("%s: the batches went through zones %s, want %s", set, strings.Join(seen, ", "), strings.Join(want, ", "))
	}
	return nil
}
