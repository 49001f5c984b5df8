package plan

import (
	"fmt"
	"slices"
)

// regionPairs are Azure's published region pairs for the regions osupgrade
// supports. Some pairings are one-way in Azure (westus3 -> eastus,
// brazilsouth -> southcentralus); for R-AVAIL-2 a pair is a pair both ways.
var regionPairs = [][2]string{
	{"eastus", "westus"},
	{"eastus2", "centralus"},
	{"northcentralus", "southcentralus"},
	{"westus2", "westcentralus"},
	{"westus3", "eastus"},
	{"brazilsouth", "southcentralus"},
	{"canadacentral", "canadaeast"},
	{"northeurope", "westeurope"},
	{"uksouth", "ukwest"},
	{"francecentral", "francesouth"},
	{"germanywestcentral", "germanynorth"},
	{"eastasia", "southeastasia"},
	{"japaneast", "japanwest"},
	{"koreacentral", "koreasouth"},
	{"australiaeast", "australiasoutheast"},
	{"centralindia", "southindia"},
}

// regionRank is each supported region's place in the platform's order;
// pairedWith its pairs. Both are derived once from regionPairs.
var regionRank, pairedWith = func() (map[string]int, map[string][]string) {
	rank := map[string]int{}
	pairs := map[string][]string{}
	for _, p := range regionPairs {
		for _, r := range p {
			if _, ok := rank[r]; !ok {
				rank[r] = len(rank)
			}
		}
		pairs[p[0]] = append(pairs[p[0]], p[1])
		pairs[p[1]] = append(pairs[p[1]], p[0])
	}
	return rank, pairs
}()

// Regions lists the supported regions in the platform's rollout order.
func Regions() []string {
	out := make([]string, len(regionRank))
	for r, i := range regionRank {
		out[i] = r
	}
	return out
}

// KnownRegion reports a supported region.
func KnownRegion(r string) bool {
	_, ok := regionRank[r]
	return ok
}

// Paired reports whether a and b are a geographic pair.
func Paired(a, b string) bool { return slices.Contains(pairedWith[a], b) }

// Phases groups regions into the platform's rollout phases (R-AVAIL-2):
// regions are taken in the platform's order and each goes into the first
// phase holding none of its pairs, so paired regions never share a phase.
// Duplicates count once.
func Phases(regions []string) ([][]string, error) {
	rs := slices.Clone(regions)
	for _, r := range rs {
		if !KnownRegion(r) {
			return nil, fmt.Errorf("region %q is not supported (supported: %v)", r, Regions())
		}
	}
	slices.SortFunc(rs, func(a, b string) int { return regionRank[a] - regionRank[b] })
	rs = slices.Compact(rs)
	var phases [][]string
next:
	for _, r := range rs {
		for i, ph := range phases {
			if !slices.ContainsFunc(ph, func(o string) bool { return Paired(o, r) }) {
				phases[i] = append(phases[i], r)
				continue next
			}
		}
		phases = append(phases, []string{r})
	}
	return phases, nil
}

// R-AVAIL-1 across a region, for platform rollouts (SPEC.md R-AVAIL-1, I-5):
// while any set of a region upgrades one zone to a platform version, no set
// of that region upgrades another zone to it; and the region's zones go in
// one order for every set, R-ORDER-1's zone order taken over the region.
//
// The region goes zone by zone: one zone at a time is the region's current
// zone for the version. A set holds the current zone from the batch it is
// admitted to there until it asks for a batch in another zone or its
// rollout ends, so the zone does not change hands between two batches of
// one set (which would make sets take turns batch by batch). A batch is
// admitted when its set holds the current zone, or when it asks for the
// current zone and no set waits for another zone. Otherwise it waits; when
// the last holder leaves, the current zone moves on to the next zone in the
// region's order (round and round) that a set waits for, and every set
// waiting for it is admitted at once.
//
// Why a waiting set cannot starve: once a set waits, the current zone takes
// no newcomer, so its holders are a fixed, shrinking group; each holder has
// finitely many batches left there, after which it leaves (asks for a
// later zone, or ends). So the current zone empties, and the pointer moves
// to the next zone someone waits for, admitting all its waiters. A set
// waiting for zone Z is admitted after at most one turn of the pointer
// round the region's zones (fewer than the number of zones moves), each
// move after the holders of one zone finish their batches there. With one
// zone order for every set, a set never needs a zone the pointer has passed
// unless it started late, and then it waits for one turn at most. A set
// with prioritizeUnhealthyInstances may still put a zone holding unhealthy
// instances first (R-ORDER-1 says so for the set); it then leaves the
// region's order, and the same bound holds: it waits at most one turn for
// each zone it takes out of order.
// TestFleetScheduleAdmitNoStarvation plays the case the first rule lost.

// regionRef is one image in one region: the scope of the region's zone
// order.
type regionRef struct{ region, ref string }

// regionVersion is one version of one image in one region: R-AVAIL-1's
// scope across a region.
type regionVersion struct{ region, ref, version string }

// regionZones is where the region's platform batches of a version are.
type regionZones struct {
	order   []string          // the region's zone order; zones seen later are added at the end
	current string            // the zone the region upgrades to the version now
	holders map[string]bool   // sets that hold the current zone
	waiting map[string]string // set → the zone its next batch waits for
}

// RegionZoneOrder is the order in which the zones of a region go for the
// platform rollouts of an image: R-ORDER-1's "in the order the zones are
// listed", over the region's automatic sets of that image taken by name,
// each adding the zones the sets before it did not list. A region whose
// only zonal set lists "3", "1", "2" goes 3, 1, 2, as that set alone would.
func (f *FleetSchedule) RegionZoneOrder(region, ref string) []string {
	key := regionRef{region, ref}
	if order, ok := f.zoneOrders[key]; ok {
		return order
	}
	var names []string
	for _, s := range f.sets {
		if s.Auto && s.Region == region && s.Ref == ref && len(s.Zones) > 0 {
			names = append(names, s.Name)
		}
	}
	slices.Sort(names)
	order := []string{}
	for _, n := range names {
		for _, z := range f.sets[n].Zones {
			if !slices.Contains(order, z) {
				order = append(order, z)
			}
		}
	}
	f.zoneOrders[key] = order
	return order
}

// PlatformZones is the zone order a platform rollout of set name goes in:
// its zones (as listed, zones) in its region's order for its image
// (RegionZoneOrder). Zones the region's order lacks (the set is not known
// as an automatic set) keep their listed order after the others.
func (f *FleetSchedule) PlatformZones(name string, zones []string) []string {
	s, ok := f.sets[name]
	if !ok || len(zones) == 0 {
		return zones
	}
	order := f.RegionZoneOrder(s.Region, s.Ref)
	out := slices.Clone(zones)
	rank := func(z string) int {
		if i := slices.Index(order, z); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

// AdmitBatch asks whether a platform batch of set in zone may start
// (R-AVAIL-1 across a region, the rule above). A batch without a zone (a
// set without availability zones) takes no part: it neither waits nor holds
// others back. Refused, the set waits for the zone (Waiting) until the
// schedule admits it; BatchInFlight and RolloutEnded then name it as due.
// holder is a set that holds the region's current zone (the first by name)
// and holderZone that zone; newly is false when the set was already waiting
// for this zone.
func (f *FleetSchedule) AdmitBatch(set, region, ref, version, zone string) (ok bool, holder, holderZone string, newly bool) {
	if zone == "" {
		return true, "", "", false
	}
	key := regionVersion{region, ref, version}
	rz := f.regionZones(key)
	if rz.holders[set] {
		if zone == rz.current {
			return true, "", "", false // its next batch in the zone it holds
		}
		delete(rz.holders, set) // it moves on: it leaves the current zone
	}
	newly = rz.waiting[set] != zone
	rz.waiting[set] = zone
	f.moveOn(rz)
	if rz.holders[set] {
		f.admitted = slices.DeleteFunc(f.admitted, func(s string) bool { return s == set })
		return true, "", "", false
	}
	for s := range rz.holders {
		if holder == "" || s < holder {
			holder = s
		}
	}
	return false, holder, rz.current, newly
}

// moveOn admits waiting sets: all those waiting for the current zone while
// no set waits for another; or, when nobody holds the current zone, all
// those waiting for the next zone (in the region's order, round and round)
// that someone waits for.
func (f *FleetSchedule) moveOn(rz *regionZones) {
	if len(rz.waiting) == 0 {
		return
	}
	if len(rz.holders) > 0 {
		for _, z := range rz.waiting {
			if z != rz.current {
				return // the current zone takes no newcomer: it drains
			}
		}
		f.admit(rz, rz.current)
		return
	}
	// Zones no automatic set of the region lists (a set not yet known to
	// the schedule) go after the listed ones, by name: map order is not
	// an order.
	var unlisted []string
	for _, z := range rz.waiting {
		if !slices.Contains(rz.order, z) && !slices.Contains(unlisted, z) {
			unlisted = append(unlisted, z)
		}
	}
	slices.Sort(unlisted)
	rz.order = append(rz.order, unlisted...)
	start := slices.Index(rz.order, rz.current) + 1 // 0 when there is none yet
	for k := range rz.order {
		z := rz.order[(start+k)%len(rz.order)]
		for _, w := range rz.waiting {
			if w == z {
				rz.current = z
				f.admit(rz, z)
				return
			}
		}
	}
}

// admit makes every set waiting for zone (the current one) a holder.
func (f *FleetSchedule) admit(rz *regionZones, zone string) {
	var names []string
	for s, z := range rz.waiting {
		if z == zone {
			names = append(names, s)
		}
	}
	slices.Sort(names)
	for _, s := range names {
		delete(rz.waiting, s)
		rz.holders[s] = true
	}
	f.admitted = append(f.admitted, names...)
}

// BatchInFlight tells the schedule that set has a platform batch in flight
// in zone (inFlight), or none now. The set keeps holding its zone between
// two of its batches; a batch in flight that the schedule did not admit (a
// rollout resumed after a restart) holds its zone from now on. It returns
// the sets the schedule admitted since it was last asked, in the order
// admitted: each may go now.
func (f *FleetSchedule) BatchInFlight(set, region, ref, version, zone string, inFlight bool) (due []string) {
	if inFlight && zone != "" {
		rz := f.regionZones(regionVersion{region, ref, version})
		if len(rz.holders) == 0 {
			rz.current = zone
		}
		rz.holders[set] = true
		delete(rz.waiting, set)
	}
	return f.takeAdmitted()
}

// RolloutEnded forgets a set's platform rollout of version: the zone it
// held and its wait. It returns the sets admitted since last asked, as
// BatchInFlight.
func (f *FleetSchedule) RolloutEnded(set, region, ref, version string) (due []string) {
	key := regionVersion{region, ref, version}
	if rz, ok := f.zones[key]; ok {
		delete(rz.holders, set)
		delete(rz.waiting, set)
		f.moveOn(rz)
		if len(rz.holders) == 0 && len(rz.waiting) == 0 {
			delete(f.zones, key)
		}
	}
	return f.takeAdmitted()
}

func (f *FleetSchedule) takeAdmitted() []string {
	due := f.admitted
	f.admitted = nil
	return due
}

// Waiting reports the zone a set's next platform batch waits for.
func (f *FleetSchedule) Waiting(set, region, ref, version string) (zone string, ok bool) {
	if rz, found := f.zones[regionVersion{region, ref, version}]; found {
		zone, ok = rz.waiting[set]
	}
	return zone, ok
}

// Holding reports the zone of the region a set holds for its platform
// rollout of version (R-AVAIL-1 across a region).
func (f *FleetSchedule) Holding(set, region, ref, version string) (zone string, ok bool) {
	if rz, found := f.zones[regionVersion{region, ref, version}]; found && rz.holders[set] {
		return rz.current, true
	}
	return "", false
}

func (f *FleetSchedule) regionZones(key regionVersion) *regionZones {
	rz, ok := f.zones[key]
	if !ok {
		rz = &regionZones{order: slices.Clone(f.RegionZoneOrder(key.region, key.ref)), holders: map[string]bool{}, waiting: map[string]string{}}
		f.zones[key] = rz
	}
	return rz
}
