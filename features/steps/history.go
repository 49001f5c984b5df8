package steps

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Steps about what can be read back: osUpgradeHistory (R-HIST-1) and
// rollingUpgrades/latest (R-HIST-3).
func (s *state) historySteps(sc stepper) {
	sc.Step(`^the upgrade history lists (\d+) entr(?:y|ies), newest first$`, s.historyLists)
	sc.Step(`^history entry (\d+) is "(\w+)", started by (\w+), targeting version "([^"]+)"$`, s.historyEntryIs)
	sc.Step(`^history entry (\d+) counts (\d+) successful, (\d+) failed, (\d+) in progress and (\d+) pending instances$`, s.historyProgress)
	sc.Step(`^history entry (\d+) counts (\d+) rolled back and (\d+) failed rollbacks$`, s.historyRollback)
	sc.Step(`^history entry (\d+) has the error "([^"]+)"$`, s.historyError)
	sc.Step(`^every history entry has (.+)$`, s.everyEntryHas)
	sc.Step(`^the latest rollout is "(\w+)" with (\d+) instances in progress$`, s.latestRollout)
}

func (s *state) historyLists(n int) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	if len(sr.History) != n {
		return fmt.Errorf("the history lists %d entries, want %d (%d rollouts ran)", len(sr.History), n, sr.Rollouts)
	}
	for i := 1; i < len(sr.History); i++ {
		if sr.History[i].Properties.RunningStatus.StartTime.After(sr.History[i-1].Properties.RunningStatus.StartTime) {
			return fmt.Errorf("history entry %d started after entry %d: not newest first", i+1, i)
		}
	}
	return nil
}

func (s *state) entry(k int) (map[string]any, error) {
	sr, err := s.setResult("")
	if err != nil {
		return nil, err
	}
	if k < 1 || k > len(sr.History) {
		return nil, fmt.Errorf("the history has %d entries, no entry %d", len(sr.History), k)
	}
	b, err := json.Marshal(sr.History[k-1])
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m["properties"].(map[string]any), nil
}

// field reads a dotted path of a JSON object.
func field(m map[string]any, path string) any {
	var v any = m
	for _, p := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[p]
	}
	return v
}

func (s *state) historyEntryIs(k int, code, startedBy, version string) error {
	p, err := s.entry(k)
	if err != nil {
		return err
	}
	got := fmt.Sprintf("%v, started by %v, targeting version %v", field(p, "runningStatus.code"), field(p, "startedBy"), field(p, "targetImageReference.version"))
	want := fmt.Sprintf("%s, started by %s, targeting version %s", code, startedBy, version)
	if got != want {
		return fmt.Errorf("history entry %d is %s, want %s", k, got, want)
	}
	return nil
}

func (s *state) historyProgress(k, ok, failed, inProgress, pending int) error {
	p, err := s.entry(k)
	if err != nil {
		return err
	}
	got := fmt.Sprint(field(p, "progress.successfulInstanceCount"), field(p, "progress.failedInstanceCount"), field(p, "progress.inProgressInstanceCount"), field(p, "progress.pendingInstanceCount"))
	want := fmt.Sprint(ok, failed, inProgress, pending)
	if got != want {
		return fmt.Errorf("history entry %d counts successful/failed/in progress/pending %s, want %s", k, got, want)
	}
	return nil
}

func (s *state) historyRollback(k, ok, failed int) error {
	p, err := s.entry(k)
	if err != nil {
		return err
	}
	got := fmt.Sprint(field(p, "rollbackInfo.successfullyRolledbackInstanceCount"), field(p, "rollbackInfo.failedRolledbackInstanceCount"))
	if want := fmt.Sprint(ok, failed); got != want {
		return fmt.Errorf("history entry %d counts rolled back/failed rollbacks %s, want %s", k, got, want)
	}
	return nil
}

func (s *state) historyError(k int, code string) error {
	p, err := s.entry(k)
	if err != nil {
		return err
	}
	if got := field(p, "error.code"); got != code {
		return fmt.Errorf("history entry %d has error %v, want %s", k, got, code)
	}
	return nil
}

// everyEntryHas checks that every entry carries the listed fields (dotted
// paths of Azure's JSON), e.g. runningStatus.code and progress.
func (s *state) everyEntryHas(list string) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	if len(sr.History) == 0 {
		return fmt.Errorf("the history of %s is empty", sr.Name)
	}
	for k := range sr.History {
		p, err := s.entry(k + 1)
		if err != nil {
			return err
		}
		for _, f := range names(list) {
			if field(p, f) == nil {
				return fmt.Errorf("history entry %d has no %s", k+1, f)
			}
		}
		if code := field(p, "runningStatus.code"); !slices.Contains([]any{"RollingForward", "Cancelled", "Completed", "Faulted"}, code) {
			return fmt.Errorf("history entry %d has runningStatus.code %v, not one of Azure's codes", k+1, code)
		}
		if by := field(p, "startedBy"); by != "Platform" && by != "User" {
			return fmt.Errorf("history entry %d has startedBy %v, want Platform or User", k+1, by)
		}
	}
	return nil
}

// latestRollout is rollingUpgrades/latest (R-HIST-3), read now.
func (s *state) latestRollout(code string, inProgress int) error {
	if s.world == nil {
		return fmt.Errorf("nothing ran yet")
	}
	h, ok, err := s.world.Orch.LatestRollout(s.file.ScaleSets[0].Name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("rollingUpgrades/latest shows no rollout")
	}
	p := h.Properties
	if p.RunningStatus.Code != code || p.Progress.InProgressInstanceCount != inProgress {
		return fmt.Errorf("rollingUpgrades/latest shows %s with %d in progress, want %s with %d", p.RunningStatus.Code, p.Progress.InProgressInstanceCount, code, inProgress)
	}
	return nil
}
