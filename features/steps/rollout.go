package steps

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Steps about the rollout: the user's triggers, running the scenario, and
// what the batches and instances show afterwards.
func (s *state) rolloutSteps(sc stepper) {
	// Triggers.
	sc.Step(`^the user starts an OS upgrade(?: of "([^"]+)")? at (\S+)$`, s.userStartsUpgrade)
	sc.Step(`^the user cancels the rollout when batch (\d+) starts$`, s.userCancels)
	sc.Step(`^the SAS token of extension "([^"]+)" is renewed at (\S+)$`, s.sasRenewed)
	sc.Step(`^the user updates every instance to the latest model at (\S+)$`, s.updateAllInstances)
	// Running.
	sc.Step(`^the scenario runs$`, s.theScenarioRuns)
	sc.Step(`^the scenario runs until (\S+)$`, s.theScenarioRunsUntil)
	sc.Step(`^the scale set is created$`, s.theScaleSetIsCreated)
	sc.Step(`^the user changes the image (publisher|offer|SKU) to "([^"]+)"$`, s.userChangesImage)
	// Outcomes.
	sc.Step(`^the rollout(?: of "([^"]+)")? (completes|is faulted|is cancelled|does not start|never starts)$`, s.theRolloutEnds)
	sc.Step(`^the rollout(?: of "([^"]+)")? started at (\S+)$`, s.theRolloutStartedAt)
	sc.Step(`^the rollout of "([^"]+)" started when the rollout of "([^"]+)" ended$`, s.startedWhenEnded)
	sc.Step(`^the rollout started within (\S+) of the start$`, s.theRolloutStartedWithin)
	sc.Step(`^the rollout to "([^"]+)" started between (\S+) and (\S+) after it was published$`, s.theRolloutStartedBetween)
	sc.Step(`^the rollout(?: of "([^"]+)")? was started by (the platform|the user)$`, s.theRolloutWasStartedBy)
	sc.Step(`^(\d+) rollouts? ran$`, s.rolloutsRan)
	sc.Step(`^(\d+) batch(?:es)? ran$`, s.batchesRan)
	sc.Step(`^every batch held at most (\d+) instances?$`, s.everyBatchAtMost)
	sc.Step(`^the largest batch held (\d+) instances?$`, s.largestBatch)
	sc.Step(`^batch (\d+) upgraded instances? ([\d, and]+)$`, s.batchUpgraded)
	sc.Step(`^the batches went through zones (.+) in that order$`, s.zonesInOrder)
	sc.Step(`^update domain (\d+)(?: of zone "([^"]+)")? was split into (\d+) batch(?:es)?$`, s.udSplit)
	sc.Step(`^the update domains went in the order ([\d, and]+)$`, s.udOrder)
	sc.Step(`^all instances(?: of "([^"]+)")? run the new version$`, s.allOnNew)
	sc.Step(`^(\d+) instances?(?: of "([^"]+)")? runs? version "([^"]+)"$`, s.nOnVersion)
	sc.Step(`^(\d+) instances? runs? the new version$`, s.nOnNew)
	sc.Step(`^no instance(?: of "([^"]+)")? runs the new version$`, s.noneOnNew)
	sc.Step(`^instances? ([\d, and]+) (?:runs?|still runs?) version "([^"]+)"$`, s.idsOnVersion)
	sc.Step(`^(\d+) instances? (?:was|were) rolled back$`, s.nRolledBack)
	sc.Step(`^instances? ([\d, and]+) (?:is|are) (healthy|unhealthy|in a failed state|provisioned)$`, s.idsAre)
	sc.Step(`^every instance(?: of "([^"]+)")? is healthy$`, s.everyInstanceHealthy)
	sc.Step(`^every data disk(?: of "([^"]+)")? is intact$`, s.everyDataDiskIntact)
	sc.Step(`^the image (SKU|offer|publisher) is still "([^"]+)"$`, s.imageStill)
	sc.Step(`^the update is rejected with a 400 error citing (R-[A-Z]+-\d+)$`, s.updateRejected)
}

func (s *state) userStartsUpgrade(set, at string) error {
	d, err := duration(at)
	if err != nil {
		return err
	}
	s.addEntry(scenario.Entry{At: s.at(d), Trigger: "manual", ScaleSet: set})
	return nil
}

// userCancels cancels while batch K is in progress: its reimages are
// already under way when the cancel arrives.
func (s *state) userCancels(batch int) error {
	s.addEntry(scenario.Entry{On: fmt.Sprintf("batch %d started", batch), Trigger: "cancel"})
	return nil
}

func (s *state) sasRenewed(ext, at string) error {
	d, err := duration(at)
	if err != nil {
		return err
	}
	s.addEntry(scenario.Entry{At: s.at(d), RenewSas: ext, ExpiresAt: s.at(365 * 24 * time.Hour)})
	return nil
}

func (s *state) updateAllInstances(at string) error {
	d, err := duration(at)
	if err != nil {
		return err
	}
	s.addEntry(scenario.Entry{At: s.at(d), ManualUpgrade: &scenario.Selection{All: true}})
	return nil
}

func (s *state) theScenarioRuns(ctx context.Context) error { return s.run(ctx) }

// theScenarioRunsUntil stops the scenario clock early, while work may still
// be pending (a rollout in progress, for R-HIST-3).
func (s *state) theScenarioRunsUntil(ctx context.Context, at string) error {
	d, err := duration(at)
	if err != nil {
		return err
	}
	s.until = d
	return s.run(ctx)
}

// theScaleSetIsCreated runs the scenario accepting that a scale set may be
// refused with a 400 (the Then steps say whether it must be).
func (s *state) theScaleSetIsCreated(ctx context.Context) error {
	s.allowReject = true
	return s.run(ctx)
}

// userChangesImage is a PUT of the model with another image property, after
// the scenario ran (R-REQ-8).
func (s *state) userChangesImage(ctx context.Context, field, value string) error {
	if s.world == nil {
		return errors.New("nothing ran yet: add `When the scenario runs`")
	}
	name := s.file.ScaleSets[0].Name
	m, ok := s.world.Orch.ScaleSet(name)
	if !ok {
		return fmt.Errorf("scale set %s does not exist", name)
	}
	switch field {
	case "publisher":
		m.Image.Publisher = value
	case "offer":
		m.Image.Offer = value
	case "SKU":
		m.Image.SKU = value
	}
	s.updateErr = s.world.Orch.UpdateScaleSet(ctx, m)
	return nil
}

var outcomes = map[string]string{
	"completes":      string(plan.StatusCompleted),
	"is faulted":     string(plan.StatusFaulted),
	"is cancelled":   string(plan.StatusCancelled),
	"does not start": string(plan.StatusNotStarted),
}

func (s *state) theRolloutEnds(set, outcome string) error {
	sr, err := s.setResult(set)
	if err != nil {
		return err
	}
	if outcome == "never starts" {
		if sr.Rollouts != 0 {
			return fmt.Errorf("scale set %s had %d rollouts (last %s), want none", sr.Name, sr.Rollouts, sr.Status)
		}
		return nil
	}
	if sr.Status != outcomes[outcome] {
		return fmt.Errorf("the last rollout of %s is %s %s, want %s", sr.Name, sr.Status, sr.ErrorCode, outcomes[outcome])
	}
	if outcome == "does not start" && len(lastBatches(sr)) > 0 {
		return fmt.Errorf("the rollout of %s did not start, yet %d batches ran", sr.Name, len(lastBatches(sr)))
	}
	return nil
}

// rolloutStart is when the set's last rollout started, from its history.
func (s *state) rolloutStart(set string) (time.Duration, error) {
	sr, err := s.setResult(set)
	if err != nil {
		return 0, err
	}
	h, err := lastHistory(sr)
	if err != nil {
		return 0, err
	}
	return h.Properties.RunningStatus.StartTime.Sub(s.result.Start), nil
}

func (s *state) theRolloutStartedAt(set, at string) error {
	want, err := duration(at)
	if err != nil {
		return err
	}
	got, err := s.rolloutStart(set)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("the rollout started at %s, want %s", got, want)
	}
	return nil
}

// startedWhenEnded: the later phase's rollout started the moment the
// earlier phase's completed (R-AVAIL-2).
func (s *state) startedWhenEnded(later, earlier string) error {
	sr, err := s.setResult(earlier)
	if err != nil {
		return err
	}
	h, err := lastHistory(sr)
	if err != nil {
		return err
	}
	end := h.Properties.RunningStatus.CompletedTime
	if end == nil {
		return fmt.Errorf("the rollout of %s has not ended", earlier)
	}
	got, err := s.rolloutStart(later)
	if err != nil {
		return err
	}
	if want := end.Sub(s.result.Start); got != want {
		return fmt.Errorf("the rollout of %s started at %s, the rollout of %s ended at %s", later, got, earlier, want)
	}
	return nil
}

func (s *state) theRolloutStartedWithin(d string) error {
	limit, err := duration(d)
	if err != nil {
		return err
	}
	got, err := s.rolloutStart("")
	if err != nil {
		return err
	}
	if got > limit {
		return fmt.Errorf("the first rollout started at %s, later than %s", got, limit)
	}
	return nil
}

func (s *state) theRolloutStartedBetween(version, lo, hi string) error {
	a, err := duration(lo)
	if err != nil {
		return err
	}
	b, err := duration(hi)
	if err != nil {
		return err
	}
	pub, ok := s.published[version]
	if !ok {
		return fmt.Errorf("version %s was not published in this scenario", version)
	}
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	for _, h := range sr.History {
		if h.Properties.TargetImageReference.Version == version {
			after := h.Properties.RunningStatus.StartTime.Sub(s.result.Start) - pub
			if after < a || after > b {
				return fmt.Errorf("the rollout to %s started %s after publication, want %s to %s", version, after, a, b)
			}
			return nil
		}
	}
	return fmt.Errorf("no rollout to %s in the history of %s", version, sr.Name)
}

func (s *state) theRolloutWasStartedBy(set, who string) error {
	sr, err := s.setResult(set)
	if err != nil {
		return err
	}
	h, err := lastHistory(sr)
	if err != nil {
		return err
	}
	want := orchestrator.StartedByPlatform
	if who == "the user" {
		want = orchestrator.StartedByUser
	}
	if h.Properties.StartedBy != want {
		return fmt.Errorf("the rollout was started by %s, want %s", h.Properties.StartedBy, want)
	}
	return nil
}

func (s *state) rolloutsRan(n int) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	if sr.Rollouts != n {
		return fmt.Errorf("%d rollouts ran, want %d", sr.Rollouts, n)
	}
	return nil
}

func (s *state) batchesRan(n int) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	if got := len(lastBatches(sr)); got != n {
		return fmt.Errorf("%d batches ran, want %d (sizes %s)", got, n, batchSizes(lastBatches(sr)))
	}
	return nil
}

func batchSizes(bs []harness.BatchResult) string {
	var out []string
	for _, b := range bs {
		out = append(out, strconv.Itoa(b.Size))
	}
	return "[" + strings.Join(out, " ") + "]"
}

func (s *state) everyBatchAtMost(n int) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	for _, b := range sr.Batches {
		if b.Size > n {
			return fmt.Errorf("batch %d of rollout %d held %d instances, more than %d", b.Index, b.Attempt, b.Size, n)
		}
	}
	return nil
}

func (s *state) largestBatch(n int) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	got := 0
	for _, b := range lastBatches(sr) {
		got = max(got, b.Size)
	}
	if got != n {
		return fmt.Errorf("the largest batch held %d instances, want %d", got, n)
	}
	return nil
}

func (s *state) batchUpgraded(k int, list string) error {
	want, err := ids(list)
	if err != nil {
		return err
	}
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	bs := lastBatches(sr)
	if k < 1 || k > len(bs) {
		return fmt.Errorf("batch %d did not run (%d batches ran)", k, len(bs))
	}
	if !sameInts(want, bs[k-1].Instances) {
		return fmt.Errorf("batch %d upgraded instances %s, want %s", k, formatIDs(bs[k-1].Instances), list)
	}
	return nil
}

// zonesInOrder: the batches visit each zone once, in the given order.
func (s *state) zonesInOrder(list string) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	var seen []string
	for _, b := range lastBatches(sr) {
		if len(seen) == 0 || seen[len(seen)-1] != b.Zone {
			if contains(seen, b.Zone) {
				return fmt.Errorf("the rollout came back to zone %q after leaving it (zones in batch order: %s)", b.Zone, strings.Join(seen, ", "))
			}
			seen = append(seen, b.Zone)
		}
	}
	if want := names(list); strings.Join(seen, ",") != strings.Join(want, ",") {
		return fmt.Errorf("the batches went through zones %s, want %s", strings.Join(seen, ", "), strings.Join(want, ", "))
	}
	return nil
}

func (s *state) udSplit(ud int, zone string, n int) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	got := 0
	for _, b := range lastBatches(sr) {
		if b.UpdateDomain == ud && b.Zone == zone {
			got++
		}
	}
	if got != n {
		return fmt.Errorf("update domain %d (zone %q) went in %d batches, want %d", ud, zone, got, n)
	}
	return nil
}

func (s *state) udOrder(list string) error {
	want, err := ids(list)
	if err != nil {
		return err
	}
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	var got []string
	for _, b := range lastBatches(sr) {
		u := strconv.Itoa(b.UpdateDomain)
		if len(got) == 0 || got[len(got)-1] != u {
			got = append(got, u)
		}
	}
	if !sameInts(want, got) {
		return fmt.Errorf("the update domains went in the order %s, want %s", formatIDs(got), list)
	}
	return nil
}

func (s *state) countOn(set, version string) (int, int, error) {
	sr, err := s.setResult(set)
	if err != nil {
		return 0, 0, err
	}
	total := 0
	for _, n := range sr.Versions {
		total += n
	}
	return sr.Versions[version], total, nil
}

func (s *state) allOnNew(set string) error {
	n, total, err := s.countOn(set, s.newVersion)
	if err != nil {
		return err
	}
	if n != total || total == 0 {
		return fmt.Errorf("%d of %d instances run %s", n, total, s.newVersion)
	}
	return nil
}

func (s *state) nOnVersion(want int, set, version string) error {
	n, _, err := s.countOn(set, version)
	if err != nil {
		return err
	}
	if n != want {
		sr, _ := s.setResult(set)
		return fmt.Errorf("%d instances run %s, want %d (versions: %v)", n, version, want, sr.Versions)
	}
	return nil
}

func (s *state) nOnNew(n int) error { return s.nOnVersion(n, "", s.newVersion) }

func (s *state) noneOnNew(set string) error { return s.nOnVersion(0, set, s.newVersion) }

func (s *state) idsOnVersion(list, version string) error {
	v, err := ids(list)
	if err != nil {
		return err
	}
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	for _, id := range v {
		in, err := instance(sr, id)
		if err != nil {
			return err
		}
		if in.Version != version {
			return fmt.Errorf("instance %d runs %s, want %s", id, in.Version, version)
		}
	}
	return nil
}

func (s *state) nRolledBack(n int) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	got := 0
	for _, in := range sr.Instances {
		if in.RolledBack {
			got++
		}
	}
	if got != n {
		return fmt.Errorf("%d instances were rolled back, want %d", got, n)
	}
	return nil
}

func (s *state) idsAre(list, what string) error {
	v, err := ids(list)
	if err != nil {
		return err
	}
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	for _, id := range v {
		in, err := instance(sr, id)
		if err != nil {
			return err
		}
		ok := false
		switch what {
		case "healthy":
			ok = in.Health == "Healthy" && in.ProvisioningState == "Succeeded"
		case "unhealthy":
			ok = in.Health != "Healthy" || in.ProvisioningState != "Succeeded"
		case "in a failed state":
			ok = in.ProvisioningState == "Failed"
		case "provisioned":
			ok = in.ProvisioningState == "Succeeded"
		}
		if !ok {
			return fmt.Errorf("instance %d is %s / %s on %s, want %s", id, in.Health, in.ProvisioningState, in.Version, what)
		}
	}
	return nil
}

func (s *state) everyInstanceHealthy(set string) error {
	sr, err := s.setResult(set)
	if err != nil {
		return err
	}
	if len(sr.Instances) == 0 {
		return fmt.Errorf("scale set %s has no instances", sr.Name)
	}
	for _, in := range sr.Instances {
		if in.Health != "Healthy" || in.ProvisioningState != "Succeeded" {
			return fmt.Errorf("instance %s is %s / %s on %s", in.ID, in.Health, in.ProvisioningState, in.Version)
		}
	}
	return nil
}

func (s *state) everyDataDiskIntact(set string) error {
	sr, err := s.setResult(set)
	if err != nil {
		return err
	}
	if len(sr.Instances) == 0 {
		return fmt.Errorf("scale set %s has no instances", sr.Name)
	}
	for _, in := range sr.Instances {
		if !in.DataIntact {
			return fmt.Errorf("the data disk of instance %s changed (I-4)", in.ID)
		}
	}
	return nil
}

func (s *state) imageStill(field, want string) error {
	name := s.file.ScaleSets[0].Name
	m, ok := s.world.Orch.ScaleSet(name)
	if !ok {
		return fmt.Errorf("scale set %s does not exist", name)
	}
	got := map[string]string{"SKU": m.Image.SKU, "offer": m.Image.Offer, "publisher": m.Image.Publisher}[field]
	if got != want {
		return fmt.Errorf("the image %s is %q, want %q", field, got, want)
	}
	sr, err := s.setResult(name)
	if err != nil {
		return err
	}
	for _, h := range sr.History {
		t := h.Properties.TargetImageReference
		if got := map[string]string{"SKU": t.SKU, "offer": t.Offer, "publisher": t.Publisher}[field]; got != want {
			return fmt.Errorf("a rollout targeted %s %q, want %q", field, got, want)
		}
	}
	return nil
}

func (s *state) updateRejected(rule string) error {
	var ve *orchestrator.ValidationError
	if !errors.As(s.updateErr, &ve) {
		return fmt.Errorf("the update was not rejected with a validation error: %v", s.updateErr)
	}
	if ve.Rule != rule {
		return fmt.Errorf("the update was rejected citing %q, want %s: %v", ve.Rule, rule, ve)
	}
	return nil
}
