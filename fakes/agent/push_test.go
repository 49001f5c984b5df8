package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// collectorStub records the reports pushed to it; refuse makes it answer
// 401 to every report.
type collectorStub struct {
	mu      sync.Mutex
	reports []agent.StatusReport
	auth    []string
	refuse  bool
	srv     *httptest.Server
}

func newCollectorStub(t *testing.T) *collectorStub {
	c := &collectorStub{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep agent.StatusReport
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&rep) != nil {
			http.Error(w, "bad report", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.reports = append(c.reports, rep)
		c.auth = append(c.auth, r.Header.Get("Authorization"))
		if c.refuse {
			http.Error(w, "unknown token", http.StatusUnauthorized)
		}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// wait waits until cond holds for the reports so far; the deadline only
// guards a hang.
func (c *collectorStub) wait(t *testing.T, what string, cond func([]agent.StatusReport) bool) []agent.StatusReport {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		r := append([]agent.StatusReport(nil), c.reports...)
		c.mu.Unlock()
		if cond(r) {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("the collector never saw %s; %d reports, last %+v", what, len(c.reports), c.reports[max(0, len(c.reports)-1):])
	return nil
}

// pushConfig writes the agent config with a Report to the stub.
func (w *world) pushConfig(t *testing.T, c *collectorStub, heartbeat time.Duration) {
	t.Helper()
	w.config(t, model(), agent.Faults{})
	var cfg agent.Config
	if err := agent.ReadJSON(filepath.Join(w.root, agent.ConfigPath), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Report = &agent.Report{URL: c.srv.URL + "/status", Token: "token-of-web-0", Boot: "boot-1", Heartbeat: heartbeat}
	writeJSON(t, filepath.Join(w.root, agent.ConfigPath), cfg)
}

func last(r []agent.StatusReport) agent.Status { return r[len(r)-1].Status }

// With a heartbeat far longer than the test, every report the collector
// gets comes from a change: the boot's steps, the verdict, a fault switch.
// Each carries the instance's token and the boot, in sequence.
func TestPushReportsEveryChange(t *testing.T) {
	w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
	col := newCollectorStub(t)
	w.pushConfig(t, col, time.Hour)
	c, host, _ := w.boot(t)

	r := col.wait(t, "healthy", func(r []agent.StatusReport) bool {
		return len(r) > 0 && last(r).Health == plan.HealthHealthy
	})
	if r[0].Status.Booted {
		t.Errorf("the first report is not of the boot: %+v", r[0])
	}
	if s := last(r); !s.Booted || s.Provisioning != plan.ProvisioningSucceeded || s.Image.Version != "1.0.0" || s.Set != "web" {
		t.Errorf("last report %+v", s)
	}
	if err := c.SetFaults(context.Background(), host, agent.Faults{AppUnhealthy: true}); err != nil {
		t.Fatal(err)
	}
	col.wait(t, "unhealthy, on change", func(r []agent.StatusReport) bool { return last(r).Health == plan.HealthUnhealthy })
	if err := c.SetFaults(context.Background(), host, agent.Faults{AppUnhealthy: true, Lie: true}); err != nil {
		t.Fatal(err)
	}
	// The health extension lies in its reports as it does at GET /status.
	col.wait(t, "a lie", func(r []agent.StatusReport) bool {
		return last(r).Health == plan.HealthHealthy && !last(r).AppHealthy
	})
	col.mu.Lock()
	defer col.mu.Unlock()
	for i, rep := range col.reports {
		if col.auth[i] != "Bearer token-of-web-0" || rep.Boot != "boot-1" || rep.Seq != uint64(i+1) {
			t.Fatalf("report %d: authorization %q, boot %q, seq %d", i, col.auth[i], rep.Boot, rep.Seq)
		}
	}
}

// With nothing changing, the agent still reports every heartbeat; a
// collector that refuses the reports does not stop it.
func TestPushHeartbeat(t *testing.T) {
	w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
	col := newCollectorStub(t)
	w.pushConfig(t, col, 20*time.Millisecond)
	w.boot(t)
	r := col.wait(t, "healthy", func(r []agent.StatusReport) bool {
		return len(r) > 0 && last(r).Health == plan.HealthHealthy
	})
	col.mu.Lock()
	col.refuse = true
	col.mu.Unlock()
	healthyFrom := len(r)
	col.wait(t, "ten more reports of an unchanged status", func(r []agent.StatusReport) bool {
		if len(r) < healthyFrom+10 {
			return false
		}
		for _, rep := range r[healthyFrom-1:] {
			if rep.Status.Health != plan.HealthHealthy {
				t.Fatalf("the status changed: %+v", rep)
			}
		}
		return true
	})
}

// An agent whose config names no collector reports nothing (agents before
// push health): it is asked at GET /status.
func TestNoReportWithoutCollector(t *testing.T) {
	w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
	col := newCollectorStub(t)
	w.config(t, model(), agent.Faults{})
	c, host, _ := w.boot(t)
	waitStatus(t, c, host, "healthy", func(s agent.Status) bool { return s.Health == plan.HealthHealthy })
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.reports) != 0 {
		t.Fatalf("%d reports from an agent told of no collector", len(col.reports))
	}
}
