package steps

import (
	"fmt"
	"strings"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Steps about the gates: the 400 a bad model gets (R-REQ-*), the pre-check
// (R-PRE-1) and the stops (R-STOP-1, R-STOP-2).
func (s *state) gateSteps(sc stepper) {
	sc.Step(`^the scale set is rejected with a 400 error citing (R-[A-Z]+-\d+)$`, s.rejectedCiting)
	sc.Step(`^the scale set is rejected with a 400 error on "([^"]+)"$`, s.rejectedOn)
	sc.Step(`^the scale set is accepted$`, s.accepted)
	sc.Step(`^the pre-check (refuses the rollout|lets the rollout start)$`, s.preCheck)
	sc.Step(`^the rollout stops after batch (\d+) with "([^"]+)"$`, s.stopsAfterBatch)
	sc.Step(`^the rollout goes on after batch (\d+)$`, s.goesOnAfterBatch)
	sc.Step(`^no batch started after the rollout stopped$`, s.noBatchAfterStop)
}

func (s *state) rejection() (string, string, error) {
	sr, err := s.setResult("")
	if err != nil {
		return "", "", err
	}
	if sr.Status != "Rejected" {
		return "", "", fmt.Errorf("scale set %s was accepted (status %s), want a 400 error", sr.Name, sr.Status)
	}
	if sr.Rollouts != 0 || len(sr.Instances) != 0 {
		return "", "", fmt.Errorf("scale set %s was rejected, yet it has %d rollouts and %d instances", sr.Name, sr.Rollouts, len(sr.Instances))
	}
	return sr.ErrorCode, sr.Rejection, nil
}

func (s *state) rejectedCiting(rule string) error {
	code, msg, err := s.rejection()
	if err != nil {
		return err
	}
	if code != rule {
		return fmt.Errorf("the 400 error cites %q, want %s: %s", code, rule, msg)
	}
	return nil
}

func (s *state) rejectedOn(property string) error {
	_, msg, err := s.rejection()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(msg, property+":") {
		return fmt.Errorf("the 400 error is %q, want one on %s", msg, property)
	}
	return nil
}

func (s *state) accepted() error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	if sr.Status == "Rejected" {
		return fmt.Errorf("scale set %s was rejected: %s", sr.Name, sr.Rejection)
	}
	if len(sr.Instances) == 0 {
		return fmt.Errorf("scale set %s was accepted but has no instances", sr.Name)
	}
	return nil
}

func (s *state) preCheck(verdict string) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	if sr.Rollouts == 0 {
		return fmt.Errorf("no rollout was attempted on %s", sr.Name)
	}
	refused := sr.Status == string(plan.StatusNotStarted)
	switch {
	case verdict == "refuses the rollout" && !refused:
		return fmt.Errorf("the rollout started (%s, %d batches), want the pre-check to refuse it", sr.Status, len(lastBatches(sr)))
	case verdict == "refuses the rollout" && sr.ErrorCode != plan.CodePrecheckUnhealthy:
		return fmt.Errorf("the rollout did not start with %q, want %s", sr.ErrorCode, plan.CodePrecheckUnhealthy)
	case verdict == "refuses the rollout" && len(lastBatches(sr)) > 0:
		return fmt.Errorf("the pre-check refused the rollout, yet %d batches ran", len(lastBatches(sr)))
	case verdict == "lets the rollout start" && (refused || len(lastBatches(sr)) == 0):
		return fmt.Errorf("the rollout did not start: %s %s", sr.Status, sr.ErrorCode)
	}
	return nil
}

// stopsAfterBatch: batch K ran to its end, the rollout stopped right then
// with the code, and no batch K+1 started.
func (s *state) stopsAfterBatch(k int, code string) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	bs := lastBatches(sr)
	if sr.Status != string(plan.StatusFaulted) || sr.ErrorCode != code {
		return fmt.Errorf("the rollout ended %s %q after %d batches, want Faulted %s after batch %d", sr.Status, sr.ErrorCode, len(bs), code, k)
	}
	if len(bs) != k {
		return fmt.Errorf("the rollout stopped after %d batches, want after batch %d", len(bs), k)
	}
	last := bs[k-1]
	if last.EndTime == "" {
		return fmt.Errorf("batch %d never finished", k)
	}
	h, err := lastHistory(sr)
	if err != nil {
		return err
	}
	end := h.Properties.RunningStatus.CompletedTime
	if end == nil || end.UTC().Format("2006-01-02T15:04:05Z07:00") != last.EndTime {
		return fmt.Errorf("the rollout ended at %v, not at the end of batch %d (%s)", end, k, last.EndTime)
	}
	return nil
}

func (s *state) goesOnAfterBatch(k int) error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	if n := len(lastBatches(sr)); n <= k {
		return fmt.Errorf("the rollout stopped after %d batches (%s %s), want it to go on after batch %d", n, sr.Status, sr.ErrorCode, k)
	}
	return nil
}

// noBatchAfterStop: the stop event is the last thing the rollout did.
func (s *state) noBatchAfterStop() error {
	sr, err := s.setResult("")
	if err != nil {
		return err
	}
	fin := s.events(sr.Name, "rollout finished")
	if len(fin) == 0 {
		return fmt.Errorf("the rollout of %s never finished", sr.Name)
	}
	end := fin[len(fin)-1]
	for _, e := range s.result.Events {
		if e.Set == sr.Name && e.Attempt == end.Attempt && strings.HasSuffix(e.Event, "started") && e.Time > end.Time {
			return fmt.Errorf("%s at %s, after the rollout stopped at %s", e.Event, e.Time, end.Time)
		}
	}
	return nil
}
