package docker

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// post sends one report to c as the agent holding token would.
func post(t *testing.T, c *collector, token string, rep agent.StatusReport) int {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, ReportPath, bytes.NewReader(b))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	return w.Code
}

func report(set string, id int, boot string, seq uint64, h plan.Health) agent.StatusReport {
	return agent.StatusReport{Boot: boot, Seq: seq, Status: agent.Status{Set: set, Instance: id, Booted: true, Health: h, Provisioning: plan.ProvisioningSucceeded}}
}

// A report is taken only with the token of the instance it names: one
// container cannot report for another, nor one run's for another run's.
func TestCollectorAuthenticatesEachInstance(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCollector("run-a", func() time.Time { return now })
	other := newCollector("run-b", func() time.Time { return now })
	c.expect("web", 0, "b0")
	c.expect("web", 1, "b1")
	tests := []struct {
		name  string
		token string
		rep   agent.StatusReport
		want  int
	}{
		{"own token", c.token("web", 1), report("web", 1, "b1", 1, plan.HealthHealthy), http.StatusNoContent},
		{"no token", "", report("web", 1, "b1", 2, plan.HealthUnhealthy), http.StatusUnauthorized},
		{"another instance's token", c.token("web", 0), report("web", 1, "b1", 3, plan.HealthUnhealthy), http.StatusUnauthorized},
		{"same id, another set's token", c.token("api", 1), report("web", 1, "b1", 4, plan.HealthUnhealthy), http.StatusUnauthorized},
		{"another run's token", other.token("web", 1), report("web", 1, "b1", 5, plan.HealthUnhealthy), http.StatusUnauthorized},
		{"a replaced container's boot", c.token("web", 1), report("web", 1, "old", 6, plan.HealthUnhealthy), http.StatusConflict},
	}
	for _, tc := range tests {
		if got := post(t, c, tc.token, tc.rep); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	st, _, ok, _ := c.latest("web", 1)
	if !ok || st.Health != plan.HealthHealthy {
		t.Fatalf("instance 1 holds %+v (ok %t): a refused report was taken", st, ok)
	}
	if _, _, ok, _ := c.latest("web", 0); ok {
		t.Fatal("instance 0 has a report it never sent")
	}
}

// A late report (lower seq) does not overwrite a newer one; a new boot
// forgets what the container before said; a fleet object made again for
// the run (nothing expected) takes the running boot's reports.
func TestCollectorOrdersReportsAndForgetsOldBoots(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCollector("run", func() time.Time { return now })
	tok := c.token("web", 0)
	c.expect("web", 0, "b1")
	post(t, c, tok, report("web", 0, "b1", 2, plan.HealthHealthy))
	post(t, c, tok, report("web", 0, "b1", 1, plan.HealthUnhealthy))
	if st, _, _, _ := c.latest("web", 0); st.Health != plan.HealthHealthy {
		t.Fatalf("a late report overwrote the newer: %s", st.Health)
	}
	c.expect("web", 0, "b2")
	if _, _, ok, _ := c.latest("web", 0); ok {
		t.Fatal("a new boot still shows the old boot's report")
	}
	if got := post(t, c, tok, report("web", 0, "b1", 3, plan.HealthHealthy)); got != http.StatusConflict {
		t.Fatalf("the old boot's report: %d, want 409", got)
	}
	post(t, c, tok, report("web", 0, "b2", 1, plan.HealthUnhealthy))
	if st, _, ok, _ := c.latest("web", 0); !ok || st.Health != plan.HealthUnhealthy {
		t.Fatalf("the new boot's first report: %+v %t", st, ok)
	}

	re := newCollector("run", func() time.Time { return now })
	if got := post(t, re, tok, report("web", 0, "b2", 7, plan.HealthHealthy)); got != http.StatusNoContent {
		t.Fatalf("a reattached collector refused the running boot: %d", got)
	}
}

// The heartbeat follows the scenario's 5 s at the time scale, within the
// report budget; the bound is staleHeartbeats heartbeats plus slack, and
// at least the status call's old timeout.
func TestHeartbeatAndStaleness(t *testing.T) {
	tests := []struct {
		n         int
		scale     float64
		heartbeat time.Duration
		stale     time.Duration
	}{
		{10, 60, 83333333, time.Second},
		{10, 20, 250 * time.Millisecond, 1200 * time.Millisecond},
		{50, 60, 125 * time.Millisecond, time.Second},
		{200, 60, 500 * time.Millisecond, 2200 * time.Millisecond},
		{200, 1, 5 * time.Second, 20200 * time.Millisecond},
		{1, 0, 5 * time.Second, 20200 * time.Millisecond},
	}
	for _, tc := range tests {
		hb := heartbeat(tc.n, tc.scale)
		if hb != tc.heartbeat || staleAfter(hb) != tc.stale {
			t.Errorf("N=%d scale %g: heartbeat %s, stale after %s; want %s, %s", tc.n, tc.scale, hb, staleAfter(hb), tc.heartbeat, tc.stale)
		}
	}
}
