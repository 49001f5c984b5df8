package plan

import (
	"slices"
	"strings"
	"time"
)

// The platform's schedule (R-TRIG-2).
const (
	FirstRolloutWindow = 3 * time.Hour
	LaterRolloutMin    = 30 * time.Minute
	LaterRolloutMax    = 60 * time.Minute
)

// Draw is a deterministic duration in [lo, hi] for (set, key), drawn from
// the run's seed by the caller: the planner holds no randomness.
type Draw func(set, key string, lo, hi time.Duration) time.Duration

// PlatformStart is when the platform starts a rollout of version on set
// once the version is eligible there (R-TRIG-2): the first rollout after
// automatic upgrades are enabled within the one-time 3-hour window from
// enabling (and not before eligibility), every later one 30 to 60 minutes
// after eligibility. The draws are keyed by set and version, so the same
// seed gives the same schedule whatever order sets are planned in.
func PlatformStart(draw Draw, set, version string, firstDone bool, enabledAt, eligibleAt time.Time) time.Time {
	if !firstDone {
		at := enabledAt.Add(draw(set, "first", 0, FirstRolloutWindow))
		if eligibleAt.After(at) {
			return eligibleAt
		}
		return at
	}
	return eligibleAt.Add(draw(set, "version/"+version, LaterRolloutMin, LaterRolloutMax))
}

// PlatformCandidate is the version a platform rollout of a set would go to
// (R-TRIG-1, R-TRIG-5): latest, the newest version available to the set
// (ok false: none), when it is newer than what the set runs and is not a
// version whose rollout on this set failed before.
func PlatformCandidate(latest string, ok bool, running string, refused []string) (string, bool) {
	if !ok || CompareVersions(latest, running) <= 0 || slices.Contains(refused, latest) {
		return "", false
	}
	return latest, true
}

// FleetSet is what the fleet schedule knows of one scale set.
type FleetSet struct {
	Name   string
	Region string
	Ref    string // its image, without version
	// Auto: automatic OS upgrades are on, so the set takes part in the
	// platform's region phases (R-AVAIL-2).
	Auto bool
	// Base is the version the whole set was created with or last completed
	// a rollout to.
	Base string
	// Completed lists its completed rollouts, oldest first.
	Completed []Completion
	// Zones are its availability zones in the order listed (R-ORDER-1);
	// none for a regional set.
	Zones []string
}

// Completion is a rollout that completed: its target, and when it ended.
type Completion struct {
	Version string
	At      time.Time
}

// FleetSchedule is the platform's region phases (R-AVAIL-2) over a fleet,
// kept incrementally: the phases of an image are computed once for its set
// of regions, and for each version asked about, the count of sets of each
// phase that have not completed it, updated as rollouts complete. A
// question then costs O(phases), a completion O(versions asked about).
//
// Like Rollout it is a plain state machine, not safe for concurrent use;
// EligibleFromScratch is the same answer computed from nothing, for tests.
type FleetSchedule struct {
	sets map[string]*FleetSet
	refs map[string]*refPhases
	// phases caches Phases by set of regions (a key of sorted names).
	phases map[string][][]string
	// zones is R-AVAIL-1 across each region (AdmitBatch).
	zones map[regionVersion]*regionZones
	// zoneOrders caches RegionZoneOrder by region and image.
	zoneOrders map[regionRef][]string
	// admitted are the sets the schedule admitted for their zone since the
	// caller last asked (BatchInFlight, RolloutEnded): each is due.
	admitted []string
}

// refPhases is the phase state of the automatic sets of one image.
type refPhases struct {
	phaseOf  map[string]int // region → phase
	byPhase  [][]string     // set names by phase, sorted
	broken   bool           // a region is not supported: nothing is eligible
	versions map[string]*versionPhases
}

// versionPhases counts, by phase, the sets that have not completed a
// version, and the latest completion time of those that have.
type versionPhases struct {
	pending []int
	latest  []time.Time
	done    map[string]bool
}

// NewFleetSchedule is an empty fleet schedule.
func NewFleetSchedule() *FleetSchedule {
	return &FleetSchedule{sets: map[string]*FleetSet{}, refs: map[string]*refPhases{}, phases: map[string][][]string{}, zones: map[regionVersion]*regionZones{}, zoneOrders: map[regionRef][]string{}}
}

// Put adds a set or replaces what is known of it. A change of region,
// image or automatic upgrades recomputes its image's phases when next asked.
func (f *FleetSchedule) Put(s FleetSet) {
	s.Completed = slices.Clone(s.Completed)
	if old, ok := f.sets[s.Name]; ok {
		if old.Region == s.Region && old.Ref == s.Ref && old.Auto == s.Auto && old.Base == s.Base && slices.Equal(old.Completed, s.Completed) && slices.Equal(old.Zones, s.Zones) {
			return
		}
		delete(f.refs, old.Ref)
		delete(f.zoneOrders, regionRef{old.Region, old.Ref})
	}
	s.Zones = slices.Clone(s.Zones)
	delete(f.zoneOrders, regionRef{s.Region, s.Ref})
	f.sets[s.Name] = &s
	delete(f.refs, s.Ref)
}

// Remove forgets a set.
func (f *FleetSchedule) Remove(name string) {
	if old, ok := f.sets[name]; ok {
		delete(f.refs, old.Ref)
		delete(f.zoneOrders, regionRef{old.Region, old.Ref})
		delete(f.sets, name)
	}
}

// Complete records that set name completed a rollout to version at at. It
// returns the sets whose eligibility this may change (a later region phase
// that opens), in name order.
func (f *FleetSchedule) Complete(name, version string, at time.Time) (due []string) {
	s, ok := f.sets[name]
	if !ok {
		return nil
	}
	s.Completed = append(s.Completed, Completion{Version: version, At: at})
	lower := CompareVersions(version, s.Base) < 0
	s.Base = version
	rp := f.refs[s.Ref]
	if !s.Auto || rp == nil || rp.broken {
		return nil
	}
	if lower {
		// A set taken back to an older version (a pinned model) may no
		// longer count as having the versions between: count again. It
		// opens no phase.
		clear(rp.versions)
		return nil
	}
	k := rp.phaseOf[s.Region]
	opened := -1 // the phase after which more may be eligible now
	for v, vp := range rp.versions {
		if CompareVersions(version, v) < 0 {
			continue
		}
		changed := false
		if !vp.done[name] {
			vp.done[name] = true
			vp.pending[k]--
			changed = vp.pending[k] == 0
		}
		if at.After(vp.latest[k]) {
			vp.latest[k] = at
			changed = true
		}
		if changed && prefixDone(vp.pending, k+1) {
			opened = max(opened, k)
		}
	}
	if opened < 0 {
		return nil
	}
	for j := opened + 1; j < len(rp.byPhase); j++ {
		due = append(due, rp.byPhase[j]...)
	}
	slices.Sort(due)
	return due
}

func prefixDone(pending []int, n int) bool {
	for _, p := range pending[:n] {
		if p > 0 {
			return false
		}
	}
	return true
}

// EligibleAt is when version (published at published) of the set's image
// becomes eligible for set name under R-AVAIL-2: its publication, or, in a
// later region phase, when every automatic set of the earlier phases has
// completed it (ok false: not yet, or the set is unknown or has automatic
// upgrades off: the platform rolls out only to automatic sets).
func (f *FleetSchedule) EligibleAt(name, version string, published time.Time) (time.Time, bool) {
	s, ok := f.sets[name]
	if !ok || !s.Auto {
		return time.Time{}, false
	}
	rp := f.refPhases(s.Ref)
	if rp.broken {
		return time.Time{}, false
	}
	k := rp.phaseOf[s.Region]
	vp := rp.version(f, s.Ref, version)
	at := published
	for j := range k {
		if vp.pending[j] > 0 {
			return time.Time{}, false
		}
		if vp.latest[j].After(at) {
			at = vp.latest[j]
		}
	}
	return at, true
}

// refPhases returns the image's phase state, computing it when missing.
func (f *FleetSchedule) refPhases(ref string) *refPhases {
	if rp, ok := f.refs[ref]; ok {
		return rp
	}
	rp := &refPhases{phaseOf: map[string]int{}, versions: map[string]*versionPhases{}}
	f.refs[ref] = rp
	var regions []string
	for _, s := range f.sets {
		if s.Auto && s.Ref == ref {
			regions = append(regions, s.Region)
		}
	}
	phases, err := f.cachedPhases(regions)
	if err != nil {
		rp.broken = true
		return rp
	}
	rp.byPhase = make([][]string, len(phases))
	for j, ph := range phases {
		for _, r := range ph {
			rp.phaseOf[r] = j
		}
	}
	for _, s := range f.sets {
		if s.Auto && s.Ref == ref {
			j := rp.phaseOf[s.Region]
			rp.byPhase[j] = append(rp.byPhase[j], s.Name)
		}
	}
	for _, names := range rp.byPhase {
		slices.Sort(names)
	}
	return rp
}

// cachedPhases is Phases, computed once per set of regions.
func (f *FleetSchedule) cachedPhases(regions []string) ([][]string, error) {
	rs := slices.Clone(regions)
	slices.Sort(rs)
	rs = slices.Compact(rs)
	key := strings.Join(rs, ",")
	if ph, ok := f.phases[key]; ok {
		return ph, nil
	}
	ph, err := Phases(rs)
	if err != nil {
		return nil, err
	}
	f.phases[key] = ph
	return ph, nil
}

// version returns the counts for a version, computing them when missing.
func (rp *refPhases) version(f *FleetSchedule, ref, version string) *versionPhases {
	if vp, ok := rp.versions[version]; ok {
		return vp
	}
	vp := &versionPhases{pending: make([]int, len(rp.byPhase)), latest: make([]time.Time, len(rp.byPhase)), done: map[string]bool{}}
	for j, names := range rp.byPhase {
		for _, n := range names {
			done, at := completedVersion(f.sets[n], version)
			if !done {
				vp.pending[j]++
				continue
			}
			vp.done[n] = true
			if at.After(vp.latest[j]) {
				vp.latest[j] = at
			}
		}
	}
	rp.versions[version] = vp
	return vp
}

// completedVersion reports whether a set runs version or newer, and when
// its newest rollout to such a version ended (zero: it was created so).
func completedVersion(s *FleetSet, version string) (bool, time.Time) {
	for i := len(s.Completed) - 1; i >= 0; i-- {
		if CompareVersions(s.Completed[i].Version, version) >= 0 {
			return true, s.Completed[i].At
		}
	}
	return CompareVersions(s.Base, version) >= 0, time.Time{}
}

// EligibleFromScratch is FleetSchedule.EligibleAt computed from nothing
// over the fleet's sets, as the first version did at every step: the
// reference the incremental schedule is tested against.
func EligibleFromScratch(sets []FleetSet, name, version string, published time.Time) (time.Time, bool) {
	i := slices.IndexFunc(sets, func(s FleetSet) bool { return s.Name == name })
	if i < 0 {
		return time.Time{}, false
	}
	self := sets[i]
	if !self.Auto {
		return time.Time{}, false
	}
	var peers []FleetSet
	var regions []string
	for _, s := range sets {
		if s.Auto && s.Ref == self.Ref {
			peers = append(peers, s)
			regions = append(regions, s.Region)
		}
	}
	phases, err := Phases(regions)
	if err != nil {
		return time.Time{}, false
	}
	at := published
	for _, ph := range phases {
		if slices.Contains(ph, self.Region) {
			return at, true
		}
		for _, p := range peers {
			if !slices.Contains(ph, p.Region) {
				continue
			}
			done, t := completedVersion(&p, version)
			if !done {
				return time.Time{}, false
			}
			if t.After(at) {
				at = t
			}
		}
	}
	return at, true
}
