package agent

import (
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// HealthMachine is the Application Health extension's verdict logic, with
// time as an input: Initializing for the grace period; then the state of the
// last numberOfProbes probes when they agree; when the grace period ends
// without such a verdict, Unknown for http(s) and Unhealthy for tcp (SPEC
// reference values).
type HealthMachine struct {
	probes  int
	grace   time.Duration
	tcp     bool
	start   time.Time
	state   plan.Health
	results []plan.Health
}

// NewHealthMachine starts the grace period at start.
func NewHealthMachine(probes int, grace time.Duration, protocol string, start time.Time) *HealthMachine {
	return &HealthMachine{probes: max(1, probes), grace: grace, tcp: protocol == "tcp", start: start, state: plan.HealthInitializing}
}

// Record adds one probe result (Healthy, Unhealthy or Unknown) seen at at.
func (m *HealthMachine) Record(result plan.Health, at time.Time) {
	m.results = append(m.results, result)
	if n := len(m.results); n > 2*m.probes {
		m.results = append(m.results[:0], m.results[n-m.probes:]...)
	}
	if at.Sub(m.start) < m.grace {
		return
	}
	if v, ok := m.verdict(); ok {
		m.state = v
	} else if m.state == plan.HealthInitializing {
		m.state = m.fallback()
	}
}

// State is the reported state at at.
func (m *HealthMachine) State(at time.Time) plan.Health {
	if at.Sub(m.start) < m.grace {
		return plan.HealthInitializing
	}
	if m.state == plan.HealthInitializing {
		if v, ok := m.verdict(); ok {
			return v
		}
		return m.fallback()
	}
	return m.state
}

func (m *HealthMachine) verdict() (plan.Health, bool) {
	n := len(m.results)
	if n < m.probes {
		return 0, false
	}
	last := m.results[n-1]
	for _, r := range m.results[n-m.probes:] {
		if r != last {
			return 0, false
		}
	}
	return last, true
}

func (m *HealthMachine) fallback() plan.Health {
	if m.tcp {
		return plan.HealthUnhealthy
	}
	return plan.HealthUnknown
}
