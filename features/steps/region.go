package steps

import (
	"fmt"
	"slices"
	"time"

	"github.com/osupgrade/osupgrade/harness"
)

// R-AVAIL-1 across a region: the batches of every scale set of a region, as
// the result lists them, laid side by side on the scenario clock.

// timedBatch is one batch of a set with what its rollout was: started by
// the platform or the user, to which version.
type timedBatch struct {
	set       string
	b         harness.BatchResult
	start     time.Time
	end       time.Time // zero: never finished
	version   string
	startedBy string
}

// overlaps: both ran at some instant. A batch that starts the second the
// other ends does not overlap it (result times are whole seconds).
func (a timedBatch) overlaps(b timedBatch) bool {
	return (b.end.IsZero() || a.start.Before(b.end)) && (a.end.IsZero() || b.start.Before(a.end))
}

func (a timedBatch) String() string {
	end := "never finished"
	if !a.end.IsZero() {
		end = "to " + a.end.Format(time.TimeOnly)
	}
	return fmt.Sprintf("%s batch %d of rollout %d (zone %q, %s by %s, %s %s)", a.set, a.b.Index, a.b.Attempt, a.b.Zone, a.version, a.startedBy, a.start.Format(time.TimeOnly), end)
}

// batchesOf lists a set's batches with their rollouts: a batch belongs to
// the newest history entry that started at or before it.
func (s *state) batchesOf(name string) ([]timedBatch, error) {
	sr, err := s.setResult(name)
	if err != nil {
		return nil, err
	}
	hist := slices.Clone(sr.History)
	slices.Reverse(hist) // oldest first
	var out []timedBatch
	for _, b := range sr.Batches {
		tb := timedBatch{set: sr.Name, b: b}
		if tb.start, err = time.Parse(time.RFC3339, b.StartTime); err != nil {
			return nil, fmt.Errorf("%s batch %d: start time %q: %w", sr.Name, b.Index, b.StartTime, err)
		}
		if b.EndTime != "" {
			if tb.end, err = time.Parse(time.RFC3339, b.EndTime); err != nil {
				return nil, fmt.Errorf("%s batch %d: end time %q: %w", sr.Name, b.Index, b.EndTime, err)
			}
		}
		for _, h := range hist {
			if h.Properties.RunningStatus.StartTime.Truncate(time.Second).After(tb.start) {
				break
			}
			tb.version, tb.startedBy = h.Properties.TargetImageReference.Version, h.Properties.StartedBy
		}
		if tb.version == "" {
			return nil, fmt.Errorf("%s batch %d (rollout %d, %s): no history entry of its rollout (the history keeps the last 5)", sr.Name, b.Index, b.Attempt, b.StartTime)
		}
		out = append(out, tb)
	}
	return out, nil
}

// regionZonesNeverTogether is R-AVAIL-1 across a region: no two batches of
// automatic rollouts of the region's sets, to one version, ran in two
// different zones at once. A set without zones is in no zone: its batches
// are not compared (docs/rules.md R-AVAIL-1 speaks of instances in
// different availability zones). Rollouts the user started keep R-AVAIL-1
// within their set only.
func (s *state) regionZonesNeverTogether(region string) error {
	if s.result == nil {
		return fmt.Errorf("nothing ran yet: add `When the scenario runs`")
	}
	var all []timedBatch
	sets := 0
	for _, set := range s.file.ScaleSets {
		r := set.Region
		if r == "" {
			r = harness.DefaultRegion
		}
		if r != region || len(set.Zones) == 0 {
			continue
		}
		bs, err := s.batchesOf(set.Name)
		if err != nil {
			return err
		}
		sets++
		for _, b := range bs {
			if b.startedBy == "Platform" && b.b.Zone != "" {
				all = append(all, b)
			}
		}
	}
	if sets == 0 {
		return fmt.Errorf("no scale set with zones in region %q: nothing to hold apart", region)
	}
	if len(all) == 0 {
		return fmt.Errorf("no batch of an automatic rollout ran in a zone of region %q: nothing was held apart", region)
	}
	for i, a := range all {
		for _, b := range all[i+1:] {
			if a.b.Zone != b.b.Zone && a.version == b.version && a.overlaps(b) {
				return fmt.Errorf("%s and %s ran at the same time", a, b)
			}
		}
	}
	return nil
}

// upgradedWhile: a batch of one set (in a zone, if named; a set without
// zones has batches in no zone) ran while a batch of another set upgraded
// the given zone. It shows a set was not held back by another's zone.
func (s *state) upgradedWhile(name, zone, other, otherZone string) error {
	mine, err := s.batchesOf(name)
	if err != nil {
		return err
	}
	theirs, err := s.batchesOf(other)
	if err != nil {
		return err
	}
	inZone := 0
	for _, b := range theirs {
		if b.b.Zone != otherZone {
			continue
		}
		inZone++
		for _, a := range mine {
			if (zone == "" || a.b.Zone == zone) && a.overlaps(b) {
				return nil
			}
		}
	}
	where := ""
	if zone != "" {
		where = fmt.Sprintf(" in zone %q", zone)
	}
	if inZone == 0 {
		return fmt.Errorf("%s ran no batch in zone %q", other, otherZone)
	}
	return fmt.Errorf("no batch of %s%s ran while %s upgraded zone %q (%d batches there)", name, where, other, otherZone, inZone)
}
