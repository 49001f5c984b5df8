package agent

import (
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

func TestHealthMachine(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	H, U, K, I := plan.HealthHealthy, plan.HealthUnhealthy, plan.HealthUnknown, plan.HealthInitializing
	type probe struct {
		sec int
		r   plan.Health
	}
	cases := []struct {
		name     string
		probes   int
		grace    time.Duration
		protocol string
		seq      []probe
		at       int
		want     plan.Health
	}{
		{"grace period is Initializing even when healthy", 1, 10 * time.Second, "http", []probe{{0, H}, {5, H}}, 9, I},
		{"healthy after grace", 1, 10 * time.Second, "http", []probe{{0, H}, {5, H}, {10, H}}, 10, H},
		{"verdict at grace end from earlier probes", 2, 10 * time.Second, "http", []probe{{0, U}, {5, U}}, 10, U},
		{"no agreement at grace end: http is Unknown", 3, 10 * time.Second, "http", []probe{{0, H}, {5, U}, {10, H}}, 11, K},
		{"no agreement at grace end: tcp is Unhealthy", 3, 10 * time.Second, "tcp", []probe{{0, H}, {5, U}, {10, H}}, 11, U},
		{"state changes only after numberOfProbes agree", 3, 0, "http", []probe{{0, H}, {1, H}, {2, H}, {3, U}, {4, U}}, 5, H},
		{"three unhealthy probes flip it", 3, 0, "http", []probe{{0, H}, {1, H}, {2, H}, {3, U}, {4, U}, {5, U}}, 6, U},
		{"no probes yet after grace: http Unknown", 1, 5 * time.Second, "https", nil, 6, K},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewHealthMachine(c.probes, c.grace, c.protocol, t0)
			for _, p := range c.seq {
				m.Record(p.r, at(p.sec))
			}
			if got := m.State(at(c.at)); got != c.want {
				t.Fatalf("state at %ds = %s, want %s", c.at, got, c.want)
			}
		})
	}
}
