package steps

import (
	"fmt"

	"github.com/osupgrade/osupgrade/harness/scenario"
)

// Steps about faults: what goes wrong in the fleet, and when.
func (s *state) faultSteps(sc stepper) {
	sc.Step(`^instances? ([\d, and]+) (?:is|are) unhealthy when the rollout is due$`, s.unhealthyWhenDue)
	sc.Step(`^instances? ([\d, and]+) stays? unhealthy$`, s.unhealthyForGood)
	sc.Step(`^(\d+) instances? (?:is|are) unhealthy when the rollout is due$`, s.countUnhealthyWhenDue)
	sc.Step(`^maintenance makes instances? ([\d, and]+) unhealthy for (\S+) when batch (\d+) starts$`, s.maintenanceDuringBatch)
	sc.Step(`^instances? ([\d, and]+) boots? (\S+) slower until (\S+)$`, s.slowBoot)
	sc.Step(`^the SAS token of extension "([^"]+)" expires when batch (\d+) starts$`, s.sasExpiresDuringBatch)
	sc.Step(`^instances? ([\d, and]+) (?:go|goes) down at (\S+) for (\S+)$`, s.down)
	sc.Step(`^instances? ([\d, and]+) hangs? at (\S+) for (\S+)$`, s.hang)
}

// unhealthyWhenDue: the app of these instances reports unhealthy from the
// start until a minute after the new version is published (R-PRE-1).
func (s *state) unhealthyWhenDue(list string) error {
	v, err := ids(list)
	if err != nil {
		return err
	}
	s.dueUnhealthy = append(s.dueUnhealthy, v...)
	return nil
}

// countUnhealthyWhenDue picks the instances with the highest ids, so that the
// first batches are not the ones that are unhealthy.
func (s *state) countUnhealthyWhenDue(n int) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	if n > set.Instances {
		return fmt.Errorf("%d unhealthy instances of %d", n, set.Instances)
	}
	for id := set.Instances - n; id < set.Instances; id++ {
		s.dueUnhealthy = append(s.dueUnhealthy, id)
	}
	return nil
}

func (s *state) unhealthyForGood(list string) error {
	v, err := ids(list)
	if err != nil {
		return err
	}
	s.addEntry(scenario.Entry{At: s.at(0), Fault: "unhealthy", Instances: v})
	return nil
}

// maintenanceDuringBatch is R-STOP-2's concurrent maintenance: it lands as
// batch K starts, while the batch's instances are being reimaged.
func (s *state) maintenanceDuringBatch(list, d string, batch int) error {
	v, err := ids(list)
	if err != nil {
		return err
	}
	dur, err := duration(d)
	if err != nil {
		return err
	}
	s.addEntry(scenario.Entry{On: fmt.Sprintf("batch %d started", batch), Fault: "maintenance", Instances: v, Duration: scenario.Duration{Duration: dur}})
	return nil
}

// slowBoot: boots of these instances that start before `until` take longer.
func (s *state) slowBoot(list, delay, until string) error {
	v, err := ids(list)
	if err != nil {
		return err
	}
	d, err := duration(delay)
	if err != nil {
		return err
	}
	u, err := duration(until)
	if err != nil {
		return err
	}
	s.addEntry(scenario.Entry{At: s.at(0), Fault: "slow-boot", Instances: v, Delay: scenario.Duration{Duration: d}, Duration: scenario.Duration{Duration: u}})
	return nil
}

func (s *state) down(list, at, d string) error { return s.faultFor("crash", list, at, d) }

// hang: a hung VM keeps running, its health cannot be read (pause).
func (s *state) hang(list, at, d string) error { return s.faultFor("pause", list, at, d) }

// faultFor puts a fault on the instances at a time, for a while.
func (s *state) faultFor(kind, list, at, d string) error {
	v, err := ids(list)
	if err != nil {
		return err
	}
	when, err := duration(at)
	if err != nil {
		return err
	}
	dur, err := duration(d)
	if err != nil {
		return err
	}
	s.addEntry(scenario.Entry{At: s.at(when), Fault: kind, Instances: v, Duration: scenario.Duration{Duration: dur}})
	return nil
}

// sasExpiresDuringBatch: the token expires as batch K starts, after its
// reimages were sent and before the instances boot (R-CRED-1).
func (s *state) sasExpiresDuringBatch(ext string, batch int) error {
	s.addEntry(scenario.Entry{On: fmt.Sprintf("batch %d started", batch), Fault: "sas-expire", Extension: ext})
	return nil
}
