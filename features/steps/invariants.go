package steps

import (
	"fmt"
	"strconv"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Steps about the invariants of SPEC.md (I-1..I-7), checked on what the
// fleet reports: its instances (version, zone, update domain, health, data
// disk digest) and the batches' instance lists.
func (s *state) invariantSteps(sc stepper) {
	sc.Step(`^invariant (I-\d) holds$`, s.invariantHolds)
	sc.Step(`^no batch mixed zones or update domains$`, s.noBatchMixed)
	sc.Step(`^no two zones were upgraded at the same time$`, s.zonesNeverTogether)
	sc.Step(`^scale set "([^"]+)" was not touched$`, s.notTouched)
	sc.Step(`^no two zones of region "([^"]+)" were upgraded to one platform version at the same time$`, s.regionZonesNeverTogether)
	sc.Step(`^"([^"]+)"(?: in zone "([^"]+)")? was upgraded while "([^"]+)" was upgrading zone "([^"]+)"$`, s.upgradedWhile)
	sc.Step(`^the batches of "([^"]+)" went through zones (.+) in that order$`, s.setZonesInOrder)
}

var invariantChecks = map[string]func(s *state, sr *harness.SetResult) error{
	"I-1": (*state).checkI1,
	"I-2": (*state).checkI2,
	"I-3": (*state).checkI3,
	"I-4": (*state).checkI4,
	"I-5": (*state).checkI5,
	"I-6": (*state).checkI6,
	"I-7": (*state).checkI7,
}

func (s *state) invariantHolds(id string) error {
	check, ok := invariantChecks[id]
	if !ok {
		return fmt.Errorf("no invariant %s (I-1..I-7)", id)
	}
	if s.result == nil {
		return fmt.Errorf("nothing ran yet: add `When the scenario runs`")
	}
	if err := s.checkerSays(id); err != nil {
		return err
	}
	for i := range s.result.ScaleSets {
		sr := &s.result.ScaleSets[i]
		if sr.Status == "Rejected" {
			continue
		}
		if err := check(s, sr); err != nil {
			return fmt.Errorf("%s broken on %s: %w", id, sr.Name, err)
		}
	}
	return nil
}

// checkerSays is the harness's fleet-side invariant checker's verdict.
func (s *state) checkerSays(id string) error {
	for _, inv := range s.result.Invariants {
		if inv.ID == id {
			if !inv.OK {
				return fmt.Errorf("%s broken (%d violations): %s", id, inv.Violations, inv.Detail)
			}
			return nil
		}
	}
	return fmt.Errorf("the harness checked no invariant %s (checked: %v)", id, s.result.Invariants)
}

// policyPercent is the set's maxBatchInstancePercent.
func (s *state) policyPercent(name string) int {
	set, err := s.named(name)
	if err == nil && set.UpgradePolicy.MaxBatchInstancePercent != nil {
		return *set.UpgradePolicy.MaxBatchInstancePercent
	}
	return 20
}

// checkI1: no batch larger than R-BATCH-1 allows, and no two batches of a
// set upgrading at the same time.
func (s *state) checkI1(sr *harness.SetResult) error {
	n := len(sr.Instances) + sr.InstancesOmitted
	limit := max(1, n*s.policyPercent(sr.Name)/100)
	for i, b := range sr.Batches {
		if b.Size > limit {
			return fmt.Errorf("batch %d of rollout %d upgraded %d instances at once, more than max(1, %d%% of %d) = %d", b.Index, b.Attempt, b.Size, s.policyPercent(sr.Name), n, limit)
		}
		if i > 0 && sr.Batches[i-1].EndTime != "" && b.StartTime < sr.Batches[i-1].EndTime {
			return fmt.Errorf("batch %d started at %s, before batch %d ended at %s", b.Index, b.StartTime, sr.Batches[i-1].Index, sr.Batches[i-1].EndTime)
		}
		if i > 0 && sr.Batches[i-1].EndTime == "" {
			return fmt.Errorf("batch %d started while batch %d never ended", b.Index, sr.Batches[i-1].Index)
		}
	}
	return nil
}

// checkI2: a refused rollout ran no batch; no batch started after its
// rollout stopped.
func (s *state) checkI2(sr *harness.SetResult) error {
	if sr.Status == string(plan.StatusNotStarted) && len(lastBatches(sr)) > 0 {
		return fmt.Errorf("the pre-check refused the rollout, yet %d batches ran", len(lastBatches(sr)))
	}
	ended := map[int]string{}
	for _, e := range s.result.Events {
		if e.Set == sr.Name && e.Event == "rollout finished" {
			ended[e.Attempt] = e.Time
		}
	}
	for _, b := range sr.Batches {
		if end, ok := ended[b.Attempt]; ok && b.StartTime > end {
			return fmt.Errorf("batch %d of rollout %d started at %s, after the rollout stopped at %s", b.Index, b.Attempt, b.StartTime, end)
		}
	}
	return nil
}

// checkI3: every instance is there, on its version at the start or on a
// version a rollout targeted; after the last rollout, on its target or its
// previous version.
func (s *state) checkI3(sr *harness.SetResult) error {
	set, err := s.named(sr.Name)
	if err != nil {
		return err
	}
	if got := len(sr.Instances) + sr.InstancesOmitted; got != set.Instances {
		return fmt.Errorf("%d instances at the end, %d at the start", got, set.Instances)
	}
	allowed := map[string]bool{set.RunningVersion: true}
	for _, h := range sr.History {
		allowed[h.Properties.TargetImageReference.Version] = true
	}
	for v, n := range sr.Versions {
		if !allowed[v] {
			return fmt.Errorf("%d instances run %s, neither a starting version nor a rollout target", n, v)
		}
	}
	return nil
}

func (s *state) checkI4(sr *harness.SetResult) error { return s.everyDataDiskIntact(sr.Name) }

// checkI5: the instances of each batch share the zone and update domain the
// fleet reports for them.
func (s *state) checkI5(sr *harness.SetResult) error {
	where := map[string]harness.InstanceResult{}
	for _, in := range sr.Instances {
		where[in.ID] = in
	}
	for _, b := range sr.Batches {
		for _, id := range b.Instances {
			in, ok := where[id]
			if !ok {
				continue
			}
			if in.Zone != b.Zone || in.UpdateDomain != b.UpdateDomain {
				return fmt.Errorf("batch %d of rollout %d (zone %q, update domain %d) upgraded instance %s of zone %q, update domain %d", b.Index, b.Attempt, b.Zone, b.UpdateDomain, id, in.Zone, in.UpdateDomain)
			}
		}
	}
	return nil
}

// checkI6: the last history entry's counts match the instances the fleet
// reports on the target version and the batches that ran.
func (s *state) checkI6(sr *harness.SetResult) error {
	if len(sr.History) == 0 {
		if sr.Rollouts > 0 {
			return fmt.Errorf("%d rollouts ran but the history is empty", sr.Rollouts)
		}
		return nil
	}
	p := sr.History[0].Properties
	pr, rb := p.Progress, p.RollbackInfo
	onTarget := sr.Versions[p.TargetImageReference.Version]
	bs := lastBatches(sr)
	if len(bs) == 0 {
		if pr.SuccessfulInstanceCount+pr.FailedInstanceCount+pr.InProgressInstanceCount != 0 {
			return fmt.Errorf("no batch ran, yet the history counts %+v", pr)
		}
		return nil
	}
	planned := pr.SuccessfulInstanceCount + pr.FailedInstanceCount + pr.InProgressInstanceCount + pr.PendingInstanceCount
	skipped := len(sr.Instances) + sr.InstancesOmitted - planned
	stayed := pr.FailedInstanceCount - rb.SuccessfullyRolledbackInstanceCount - rb.FailedRolledbackInstanceCount
	if want := pr.SuccessfulInstanceCount + stayed + skipped; onTarget != want {
		return fmt.Errorf("%d instances run %s; the history says %d successful + %d failed and not rolled back + %d already there = %d", onTarget, p.TargetImageReference.Version, pr.SuccessfulInstanceCount, stayed, skipped, want)
	}
	upgraded := 0
	for _, b := range bs {
		upgraded += b.Size
	}
	if done := pr.SuccessfulInstanceCount + pr.FailedInstanceCount + pr.InProgressInstanceCount; done != upgraded {
		return fmt.Errorf("the batches upgraded %d instances, the history counts %d successful, failed or in progress", upgraded, done)
	}
	return nil
}

// checkI7: a scale set no rollout touched still runs its starting version
// with its data.
func (s *state) checkI7(sr *harness.SetResult) error {
	if sr.Rollouts > 0 {
		return nil
	}
	return s.notTouched(sr.Name)
}

func (s *state) noBatchMixed() error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	return s.checkI5(sr)
}

// zonesNeverTogether: batches of different zones never overlap in time.
func (s *state) zonesNeverTogether() error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	for i, a := range sr.Batches {
		for _, b := range sr.Batches[i+1:] {
			if a.Zone == b.Zone {
				continue
			}
			if a.EndTime == "" || b.StartTime < a.EndTime {
				return fmt.Errorf("batch %d (zone %q, %s to %s) and batch %d (zone %q, from %s) overlap", a.Index, a.Zone, a.StartTime, a.EndTime, b.Index, b.Zone, b.StartTime)
			}
		}
	}
	return s.checkI5(sr)
}

func (s *state) notTouched(name string) error {
	sr, err := s.setResult(name)
	if err != nil {
		return err
	}
	set, err := s.named(name)
	if err != nil {
		return err
	}
	if sr.Rollouts != 0 || len(sr.Batches) != 0 {
		return fmt.Errorf("scale set %s had %d rollouts and %d batches", name, sr.Rollouts, len(sr.Batches))
	}
	if sr.Versions[set.RunningVersion] != set.Instances {
		return fmt.Errorf("scale set %s runs %v, want all %s instances on %s", name, sr.Versions, strconv.Itoa(set.Instances), set.RunningVersion)
	}
	return s.everyDataDiskIntact(name)
}
