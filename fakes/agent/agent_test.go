package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/storage"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// world is a fake VM root directory plus a storage account.
type world struct {
	root    string
	clock   *clock.Virtual
	store   *storage.Server
	storeHS *httptest.Server
}

func newWorld(t *testing.T, img agent.Image) *world {
	t.Helper()
	w := &world{root: t.TempDir(), clock: clock.NewVirtual(clock.Epoch)}
	s, err := storage.New("osupgrade", w.clock)
	if err != nil {
		t.Fatal(err)
	}
	s.Put("extensions", "web/install", []byte("payload"))
	w.store = s
	w.storeHS = httptest.NewServer(s)
	t.Cleanup(w.storeHS.Close)
	writeJSON(t, filepath.Join(w.root, agent.ImagePath), img)
	return w
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func model() orchestrator.ScaleSet {
	return orchestrator.ScaleSet{
		Name: "web", Capacity: 1, BootTime: 30 * time.Second, CustomData: "#cloud-config\n",
		AppHealth: orchestrator.AppHealth{Protocol: "http", IntervalInSeconds: 5, NumberOfProbes: 1},
		Extensions: []orchestrator.Extension{
			{Name: "monitor", Type: "Monitor", ProvisionAfterExtensions: []string{"install"}},
			{Name: "install", Type: "CustomScript", SASExpiresAt: clock.Epoch.Add(time.Hour)},
		},
	}
}

// config writes the agent config with a SAS for the install extension
// expiring at the model's sasExpiresAt.
func (w *world) config(t *testing.T, m orchestrator.ScaleSet, f agent.Faults) {
	t.Helper()
	q, err := w.store.SAS("extensions", "web/install", m.Extensions[1].SASExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(w.root, agent.ConfigPath), agent.Config{
		Set: "web", TimeScale: 600, Model: m, Faults: f,
		ExtensionURLs: map[string]string{"install": w.store.BlobURL(w.storeHS.URL, "extensions", "web/install", q)},
	})
}

// boot runs the agent until the test ends; it returns the control host and
// a channel with Run's result.
func (w *world) boot(t *testing.T) (agent.Client, string, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Options{Root: w.root, ControlAddr: "127.0.0.1:0", AppAddr: "127.0.0.1:0", Ready: func(a string) { ready <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case addr := <-ready:
		return agent.Client{HTTP: &http.Client{Transport: portRewrite{addr}}}, "127.0.0.1", done
	case err := <-done:
		t.Fatalf("agent ended before listening: %v", err)
	}
	return agent.Client{}, "", nil
}

// portRewrite sends the client's fixed control port to the test listener.
type portRewrite struct{ addr string }

func (p portRewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = p.addr
	return http.DefaultTransport.RoundTrip(r)
}

// waitStatus polls until cond holds; the deadline only guards a hang.
func waitStatus(t *testing.T, c agent.Client, host string, what string, cond func(agent.Status) bool) agent.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last agent.Status
	for time.Now().Before(deadline) {
		s, err := c.Status(context.Background(), host)
		if err == nil {
			last = s
			if cond(s) {
				return s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("agent never reached %s; last status %+v", what, last)
	return last
}

func TestBootRunsExtensionsInOrderAndCustomDataOncePerDisk(t *testing.T) {
	w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
	w.config(t, model(), agent.Faults{})
	c, host, _ := w.boot(t)
	s := waitStatus(t, c, host, "healthy", func(s agent.Status) bool { return s.Health == plan.HealthHealthy })
	if s.Provisioning != plan.ProvisioningSucceeded || !s.Booted || !s.CustomDataRan || s.CustomDataRuns != 1 {
		t.Fatalf("status %+v", s)
	}
	if len(s.Extensions) != 2 || s.Extensions[0].Name != "install" || s.Extensions[1].Name != "monitor" {
		t.Fatalf("extensions not in provisionAfterExtensions order: %+v", s.Extensions)
	}
	if b, err := os.ReadFile(filepath.Join(w.root, agent.ExtensionDir, "install", "payload")); err != nil || string(b) != "payload" {
		t.Fatalf("payload %q %v", b, err)
	}
	var saved agent.Status
	if err := agent.ReadJSON(filepath.Join(w.root, agent.StatusPath), &saved); err != nil || saved.Provisioning != plan.ProvisioningSucceeded {
		t.Fatalf("status file %+v %v", saved, err)
	}

	// Same OS disk, second boot: custom data does not run again.
	w2 := *w
	c2, host2, _ := w2.boot(t)
	s2 := waitStatus(t, c2, host2, "booted", func(s agent.Status) bool { return s.Booted })
	if s2.CustomDataRan || s2.CustomDataRuns != 1 {
		t.Fatalf("custom data ran again on the same disk: %+v", s2)
	}
}

// R-CRED-1: an expired SAS fails the download extension, provisioning
// fails, and the extensions after it do not run.
func TestExpiredSASFailsProvisioning(t *testing.T) {
	w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
	m := model()
	m.Extensions[1].SASExpiresAt = clock.Epoch.Add(time.Minute)
	w.config(t, m, agent.Faults{})
	w.clock.Advance(time.Minute)
	c, host, _ := w.boot(t)
	s := waitStatus(t, c, host, "booted", func(s agent.Status) bool { return s.Booted })
	if s.Provisioning != plan.ProvisioningFailed {
		t.Fatalf("provisioning %s", s.Provisioning)
	}
	if e := s.Extensions[0]; e.Status != agent.ExtError || !strings.Contains(e.Message, "403 AuthenticationFailed") {
		t.Fatalf("install: %+v", e)
	}
	if e := s.Extensions[1]; e.Status != agent.ExtSkipped {
		t.Fatalf("monitor: %+v", e)
	}
}

func TestFaultSwitches(t *testing.T) {
	w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
	w.config(t, model(), agent.Faults{})
	c, host, _ := w.boot(t)
	ctx := context.Background()
	waitStatus(t, c, host, "healthy", func(s agent.Status) bool { return s.Health == plan.HealthHealthy })
	if err := c.SetFaults(ctx, host, agent.Faults{AppUnhealthy: true}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, host, "unhealthy", func(s agent.Status) bool { return s.Health == plan.HealthUnhealthy && !s.AppHealthy })
	if err := c.SetFaults(ctx, host, agent.Faults{AppUnhealthy: true, Lie: true}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, host, "a lie", func(s agent.Status) bool { return s.Health == plan.HealthHealthy && !s.AppHealthy })
	if err := c.SetFaults(ctx, host, agent.Faults{FlapPeriod: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, host, "the unhealthy half of a flap", func(s agent.Status) bool { return s.Health == plan.HealthUnhealthy })
	waitStatus(t, c, host, "the healthy half of a flap", func(s agent.Status) bool { return s.Health == plan.HealthHealthy })
}

func TestBadImages(t *testing.T) {
	t.Run("crash", func(t *testing.T) {
		w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "2.0.0", Bad: fault.CrashOnBoot})
		w.config(t, model(), agent.Faults{})
		err := agent.Run(context.Background(), agent.Options{Root: w.root, ControlAddr: "127.0.0.1:0", AppAddr: "127.0.0.1:0"})
		if !errors.Is(err, agent.ErrCrash) {
			t.Fatalf("Run = %v", err)
		}
		var s agent.Status
		if err := agent.ReadJSON(filepath.Join(w.root, agent.StatusPath), &s); err != nil || s.Provisioning != plan.ProvisioningUpdating || s.Booted {
			t.Fatalf("status file %+v %v", s, err)
		}
	})
	t.Run("never-healthy", func(t *testing.T) {
		w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "2.0.0", Bad: fault.NeverHealthy})
		w.config(t, model(), agent.Faults{})
		c, host, _ := w.boot(t)
		// Unknown is no verdict: the health extension is not up yet, or its
		// probe of the app timed out (under -race on a loaded machine).
		s := waitStatus(t, c, host, "a verdict", func(s agent.Status) bool {
			return s.Booted && (s.Health == plan.HealthHealthy || s.Health == plan.HealthUnhealthy)
		})
		if s.Health != plan.HealthUnhealthy || s.Provisioning != plan.ProvisioningSucceeded {
			t.Fatalf("status %+v", s)
		}
	})
	t.Run("extension-failure", func(t *testing.T) {
		w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "2.0.0", Bad: fault.FailsExtensions})
		m := model()
		m.Extensions = nil
		w.config(t, model(), agent.Faults{})
		writeJSON(t, filepath.Join(w.root, agent.ConfigPath), agent.Config{Set: "web", TimeScale: 600, Model: m})
		c, host, _ := w.boot(t)
		s := waitStatus(t, c, host, "booted", func(s agent.Status) bool { return s.Booted })
		if s.Provisioning != plan.ProvisioningFailed {
			t.Fatalf("status %+v", s)
		}
	})
}

func TestTCPAndHTTPSApps(t *testing.T) {
	for _, proto := range []string{"tcp", "https"} {
		t.Run(proto, func(t *testing.T) {
			w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
			m := model()
			m.AppHealth.Protocol = proto
			w.config(t, m, agent.Faults{})
			c, host, _ := w.boot(t)
			waitStatus(t, c, host, "healthy", func(s agent.Status) bool { return s.Health == plan.HealthHealthy })
			if err := c.SetFaults(context.Background(), host, agent.Faults{AppUnhealthy: true}); err != nil {
				t.Fatal(err)
			}
			waitStatus(t, c, host, "unhealthy", func(s agent.Status) bool { return s.Health == plan.HealthUnhealthy })
		})
	}
}

// A SIGTERM is a cancelled context: Run returns nil (exit 0).
func TestRunEndsCleanlyOnCancel(t *testing.T) {
	w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
	w.config(t, model(), agent.Faults{})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Options{Root: w.root, ControlAddr: "127.0.0.1:0", AppAddr: "127.0.0.1:0", Ready: func(a string) { ready <- a }})
	}()
	<-ready
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// A new OS disk's boot counts from the reimage's start (BootFrom), so the
// engine's work is part of it; a restart of the same disk boots in full.
func TestBootCountsFromTheReimageOnTheDisksFirstStartOnly(t *testing.T) {
	m := model()
	m.BootTime = 10 * time.Hour // 60 s of wall time at scale 600
	m.Extensions = nil
	w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
	writeJSON(t, filepath.Join(w.root, agent.ConfigPath), agent.Config{
		Set: "web", TimeScale: 600, Model: m, BootFrom: time.Now().Add(-2 * time.Minute),
	})
	func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- agent.Run(ctx, agent.Options{Root: w.root, ControlAddr: "127.0.0.1:0", AppAddr: "127.0.0.1:0", Ready: func(a string) { ready <- a }})
		}()
		defer func() { cancel(); <-done }()
		c := agent.Client{HTTP: &http.Client{Transport: portRewrite{<-ready}}}
		waitStatus(t, c, "127.0.0.1", "booted on the first start", func(s agent.Status) bool { return s.Booted })
	}()

	// The same disk again: its status file is there, the boot is whole.
	c, host, _ := w.boot(t)
	time.Sleep(300 * time.Millisecond)
	s, err := c.Status(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	if s.Booted {
		t.Fatalf("a restart took the reimage's head start: booted at once, want a 60 s boot")
	}
}

// A storage endpoint that does not answer yet (its fleet restarting) is
// retried: the extension succeeds once it is back.
func TestDownloadRetriesUntilStorageAnswers(t *testing.T) {
	w := newWorld(t, agent.Image{Ref: "a:b:c", Version: "1.0.0"})
	m := model()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there until later
	q, err := w.store.SAS("extensions", "web/install", m.Extensions[1].SASExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(w.root, agent.ConfigPath), agent.Config{
		Set: "web", TimeScale: 600, Model: m,
		ExtensionURLs: map[string]string{"install": w.store.BlobURL("http://"+addr, "extensions", "web/install", q)},
	})
	c, host, _ := w.boot(t)
	time.Sleep(200 * time.Millisecond) // a few refused attempts
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: w.store}
	go srv.Serve(ln)
	defer srv.Close()
	s := waitStatus(t, c, host, "provisioned", func(s agent.Status) bool { return s.Provisioning != plan.ProvisioningUpdating })
	if s.Provisioning != plan.ProvisioningSucceeded {
		t.Fatalf("provisioning %s after the storage came back, want Succeeded: %+v", s.Provisioning, s.Extensions)
	}
}
