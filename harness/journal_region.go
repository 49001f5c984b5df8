package harness

import (
	"fmt"
	"strings"
	"time"
)

// R-AVAIL-1 across a region (SPEC.md, I-5): while any scale set of a region
// upgrades one zone to a platform version, no set of that region upgrades
// another zone to that version.
//
// The journal reads it from the fleet's reimages alone: every upgrade
// interval (reimage to another version, until healthy, failed or the wait
// over; see Journal) of an automatic rollout counts in its region, image,
// version and zone, and one that begins while another zone of the same
// region, image and version has an upgrade in flight breaks I-5. It shares
// nothing with the planner's fleet schedule; the only thing it takes from
// the orchestrator's side is who started a rollout, which the world knows
// because it made the manual triggers itself.
//
// What does not count:
//   - Rollouts the user started (R-TRIG-3): R-AVAIL-1 binds them within
//     their set only (the per-set check in Reimage).
//   - Instances without a zone: a regional set without zones is in no
//     availability zone, so its upgrades neither hold a zone nor conflict
//     with one (SPEC.md speaks of instances "in different availability
//     zones").
//   - Rollbacks: they restore an instance's previous OS disk, they are no
//     update to a version (the upgrade they replace ends when they begin).

// regionFlight is one region's upgrades to one version of one image.
type regionFlight struct {
	region, image, version string
	zones                  []zoneFlight // few: a region has three zones
	upgrades               int          // upgrade intervals counted
	maxZones               int          // the most zones upgrading at once
}

// zoneFlight is a zone's upgrades in flight, and the latest to begin.
type zoneFlight struct {
	zone  string
	n     int
	set   string
	id    int
	since time.Time
}

// flight is the region's record of the set's version v, made on first use.
func (j *Journal) flight(s *setJournal, v uint16) *regionFlight {
	for int(v) >= len(s.flights) {
		s.flights = append(s.flights, nil)
	}
	if f := s.flights[v]; f != nil {
		return f
	}
	image := s.model.Image.Ref()
	key := s.model.Region + "\x00" + image + "\x00" + s.versions[v]
	f := j.regions[key]
	if f == nil {
		f = &regionFlight{region: s.model.Region, image: image, version: s.versions[v]}
		j.regions[key] = f
		j.regionOrder = append(j.regionOrder, f)
	}
	s.flights[v] = f
	return f
}

// enterRegion counts an upgrade of instance id (in zone, to the version it
// now runs) in its region, after checking that no other zone of the region
// is upgrading to that version.
func (j *Journal) enterRegion(s *setJournal, in *instJ, id int, zone string, at time.Time) {
	f := j.flight(s, in.cur)
	f.upgrades++
	var mine *zoneFlight
	busy := 0
	for k := range f.zones {
		z := &f.zones[k]
		if z.zone == zone {
			mine = z
			continue
		}
		if z.n > 0 {
			busy++
			if busy == 1 {
				j.violate("I-5", at, fmt.Sprintf("%s: %s instance %d (zone %q) began upgrading to %s while zone %q of the region was upgrading to it (%s instance %d since %s, %d instances in flight there): two zones of one region at once (R-AVAIL-1 across a region)", f.region, s.name, id, zone, f.version, z.zone, z.set, z.id, z.since.Format(time.RFC3339), z.n))
			}
		}
	}
	if mine == nil {
		f.zones = append(f.zones, zoneFlight{zone: zone})
		mine = &f.zones[len(f.zones)-1]
	}
	mine.n++
	mine.set, mine.id, mine.since = s.name, id, at
	f.maxZones = max(f.maxZones, busy+1)
	in.flags |= fRegional
}

// leaveRegion ends the count of instance id's upgrade in its region, if it
// was counted; call it before the instance's version changes.
func (j *Journal) leaveRegion(s *setJournal, in *instJ, id int) {
	if in.flags&fRegional == 0 {
		return
	}
	in.flags &^= fRegional
	zone, _ := s.model.Placement(id)
	f := j.flight(s, in.cur)
	for k := range f.zones {
		if f.zones[k].zone == zone && f.zones[k].n > 0 {
			f.zones[k].n--
			return
		}
	}
}

// regionSummary says, for I-5's detail, what the region-wide check saw.
func (j *Journal) regionSummary() string {
	if len(j.regionOrder) == 0 {
		return "no upgrade of an automatic rollout in a zonal set: nothing to hold apart across a region"
	}
	parts := make([]string, 0, len(j.regionOrder))
	for _, f := range j.regionOrder {
		parts = append(parts, fmt.Sprintf("%s %s:%s: %d upgrades in %d zones, zones upgrading at once at most %d", f.region, f.image, f.version, f.upgrades, len(f.zones), f.maxZones))
	}
	return "across regions, automatic rollouts: " + strings.Join(parts, "; ")
}
