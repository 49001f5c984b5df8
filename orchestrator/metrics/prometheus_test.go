package metrics_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/api"
)

// scrapeConfig is the Prometheus configuration the README shows: serve's
// /metrics over HTTPS, trusting the certificate serve generated, with its
// bearer token from a file. %[1]s is serve's data directory, %[2]s its
// address, %[3]s the rules file.
const scrapeConfig = `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %[3]s
scrape_configs:
  - job_name: osupgrade
    scheme: https
    tls_config:
      ca_file: %[1]s/tls.crt
    authorization:
      credentials_file: %[1]s/token
    static_configs:
      - targets: ['%[2]s']
`

const (
	armAPIVersion = "2024-07-01"
	setsPath      = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-prom/providers/Microsoft.Compute/virtualMachineScaleSets/"
	ubuntuImage   = "Canonical:UbuntuServer:18.04-LTS"
	// Newer than the built-in catalog's 18.04 versions (2025).
	goodVersion = "18.04.202612010"
	badVersion  = "18.04.202612020"
)

// TestPrometheusScrapesServe runs Debian's prometheus against `osupgrade
// serve` (sim fleet, virtual clock): two manual rollouts complete, a manual
// one faults (no rollback, R-TRIG-3), a platform one faults and rolls back
// (R-ROLLBACK-1), three instances turn unhealthy; then PromQL over the
// scraped series must agree with what serve's API reports (osUpgradeHistory
// and the instance views), and the shipped alert rules, loaded into that
// Prometheus, must see the fault and the unhealthy share above the gate.
func TestPrometheusScrapesServe(t *testing.T) {
	prom := prometheusTool(t, "prometheus")
	rules, err := filepath.Abs(filepath.Join(rulesDir, "osupgrade.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServe(t)

	s.createSet("web", 10, false)
	s.createSet("db", 5, false)
	s.createSet("api", 10, true)
	s.publish(goodVersion)
	for _, set := range []string{"web", "db"} {
		if st := s.upgrade(set); st != "Succeeded" {
			t.Fatalf("rollout of %s to %s ended %s, want Succeeded", set, goodVersion, st)
		}
	}
	s.call("POST", "/osupgrade/faults", map[string]any{"fault": "bad-image", "version": badVersion, "kind": "never-healthy"}, http.StatusOK)
	s.publish(badVersion)
	if st := s.upgrade("web"); st != "Failed" {
		t.Fatalf("rollout of web to the never-healthy %s ended %s, want Failed", badVersion, st)
	}
	// The platform rolls api to the bad version 30 to 60 minutes after it
	// is published, or within 3 hours of the policy's start (R-TRIG-2).
	s.advanceUntil("the platform's rollout of api to end", 24*time.Hour, func() bool {
		h := s.history("api")
		return len(h) > 0 && h[0].Properties.RunningStatus.Code != "RollingForward"
	})
	s.call("POST", "/osupgrade/faults", map[string]any{"scaleSet": "web", "instances": []int{0, 1, 2}, "fault": "app-unhealthy", "on": true}, http.StatusOK)

	// What serve's API reports.
	wantRollouts := map[string]float64{}
	wantUpgraded, wantRolledBack, wantFailed := map[string]float64{}, map[string]float64{}, map[string]float64{}
	wantInstances, wantUnhealthy := map[string]float64{}, map[string]float64{}
	for _, set := range []string{"web", "db", "api"} {
		for _, h := range s.history(set) {
			p := h.Properties
			wantRollouts[p.RunningStatus.Code+"/"+p.StartedBy]++
			wantUpgraded[set] += float64(p.Progress.SuccessfulInstanceCount)
			wantRolledBack[set] += float64(p.RollbackInfo.SuccessfullyRolledbackInstanceCount)
			// failedInstanceCount counts the rolled-back instances too; the
			// metric counts those not healthy on any version.
			wantFailed[set] += float64(p.Progress.FailedInstanceCount - p.RollbackInfo.SuccessfullyRolledbackInstanceCount)
		}
		for _, vm := range s.instanceViews(set) {
			wantInstances[set]++
			if vm.Properties.InstanceView.VMHealth.Status.Code == "HealthState/unhealthy" {
				wantUnhealthy[set]++
			}
		}
	}
	// The scenario ran as meant: otherwise the comparison below could hold
	// between two empty sides.
	if wantRollouts["Completed/User"] != 2 || wantRollouts["Faulted/User"] != 1 || wantRollouts["Faulted/Platform"] != 1 ||
		wantFailed["web"] == 0 || wantRolledBack["api"] == 0 || 5*wantUnhealthy["web"] <= wantInstances["web"] {
		t.Fatalf("serve reports rollouts %v, failed %v, rolled back %v, unhealthy %v of %v: want 2 completed and 2 faulted (web's failed, api's rolled back), and more than 20%% of web unhealthy",
			wantRollouts, wantFailed, wantRolledBack, wantUnhealthy, wantInstances)
	}

	p := startPrometheus(t, prom, fmt.Sprintf(scrapeConfig, s.dataDir, s.addr, rules))
	// One scrape brings every series: wait for it.
	p.poll(t, "the first scrape of serve", func() (bool, string) {
		up := p.vector(t, `up{job="osupgrade"}`, "instance")
		return up[s.addr] == 1 && len(p.vector(t, "osupgrade_rollouts_total", "status")) > 0, p.targetHealth(t)
	})

	for _, c := range []struct {
		query, by string
		want      map[string]float64
	}{
		// History has no NotStarted: a refused pre-check is Faulted there.
		{`sum by (status, started_by) (label_replace(osupgrade_rollouts_total, "status", "Faulted", "status", "NotStarted"))`, "status/started_by", wantRollouts},
		{"osupgrade_instances_upgraded_total", "scale_set", wantUpgraded},
		{"osupgrade_instances_rolled_back_total", "scale_set", wantRolledBack},
		{"osupgrade_instances_failed_total", "scale_set", wantFailed},
		{"osupgrade_scale_set_instances", "scale_set", wantInstances},
		{"osupgrade_scale_set_unhealthy_instances", "scale_set", wantUnhealthy},
	} {
		got := p.vector(t, c.query, c.by)
		if !sameCounts(got, c.want) {
			t.Errorf("PromQL %s = %v, serve's API says %v", c.query, got, c.want)
		}
	}
	if got := p.vector(t, "osupgrade_rollouts_in_progress", "job"); got["osupgrade"] != 0 {
		t.Errorf("osupgrade_rollouts_in_progress = %v, want 0", got)
	}

	// The shipped rules, evaluated every second: the fault fires at once,
	// the unhealthy share of web waits out its 5 minutes (pending); db and
	// api, healthy, raise nothing.
	p.poll(t, "the alerts", func() (bool, string) {
		alerts := p.alerts(t)
		ok := alerts["OsupgradeRolloutFaulted/Faulted/User"] == "firing" && alerts["OsupgradeRolloutFaulted/Faulted/Platform"] == "firing" &&
			alerts["OsupgradeUnhealthyShareAboveGate/web"] == "pending" && len(alerts) == 3
		return ok, fmt.Sprint(alerts)
	})
}

// sameCounts compares two label-to-value maps, a missing key as 0 (a
// counter's series appears with its first count).
func sameCounts(got, want map[string]float64) bool {
	for k, v := range got {
		if want[k] != v {
			return false
		}
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// freeLoopbackAddr is a loopback TCP address nothing listens on now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve is an `osupgrade serve` running in this process, and a client that
// trusts its generated certificate and carries its generated token.
type serve struct {
	t       *testing.T
	addr    string
	dataDir string
	client  *http.Client
	token   string
}

func startServe(t *testing.T) *serve {
	t.Helper()
	dataDir := t.TempDir()
	addr := freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- api.Serve(ctx, []string{"--listen", addr, "--data", dataDir, "--clock", "virtual", "--seed", "1"}, io.Discard, &out)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, out.String())
		}
	})
	s := &serve{t: t, addr: addr, dataDir: dataDir}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := s.connect(); err == nil {
			return s
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not answer on %s: %v", addr, err)
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited %d before answering", code)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// connect reads the certificate and token serve generated and asks
// /metrics with them.
func (s *serve) connect() error {
	pem, err := os.ReadFile(filepath.Join(s.dataDir, "tls.crt"))
	if err != nil {
		return err
	}
	tok, err := os.ReadFile(filepath.Join(s.dataDir, "token"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s/tls.crt", s.dataDir)
	}
	s.token = strings.TrimSpace(string(tok))
	s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, err := s.request("GET", "/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return nil
}

func (s *serve) request(method, path string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	if !strings.HasPrefix(path, "https://") {
		path = "https://" + s.addr + path
	}
	req, err := http.NewRequest(method, path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// call sends a request and wants the given status; it returns the response.
func (s *serve) call(method, path string, body any, want int) (*http.Response, []byte) {
	s.t.Helper()
	req, err := s.request(method, path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, b)
	}
	return resp, b
}

func (s *serve) decode(b []byte, v any) {
	s.t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		s.t.Fatalf("%v in %s", err, b)
	}
}

func armPath(set, sub string, query ...string) string {
	return setsPath + set + sub + "?" + strings.Join(append([]string{"api-version=" + armAPIVersion}, query...), "&")
}

// createSet creates a scale set on the latest Ubuntu version, health by
// the ApplicationHealth extension, automatic OS upgrades if auto.
func (s *serve) createSet(name string, capacity int, auto bool) {
	s.t.Helper()
	body := map[string]any{
		"location": "eastus",
		"sku":      map[string]any{"name": "Standard_B1s", "capacity": capacity},
		"tags":     map[string]string{"osupgrade.bootTime": "30s"},
		"properties": map[string]any{
			"upgradePolicy": map[string]any{"mode": "Automatic", "automaticOSUpgradePolicy": map[string]any{"enableAutomaticOSUpgrade": auto}},
			"virtualMachineProfile": map[string]any{
				"osProfile":      map[string]any{"computerNamePrefix": name, "adminUsername": "azure", "adminPassword": "S3cret!pass"},
				"storageProfile": map[string]any{"imageReference": map[string]any{"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"}},
				"extensionProfile": map[string]any{"extensions": []any{map[string]any{
					"name": "health",
					"properties": map[string]any{
						"publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "1.0",
						"settings": map[string]any{"protocol": "http", "port": 80, "requestPath": "/health"},
					},
				}}},
			},
		},
	}
	resp, _ := s.call("PUT", armPath(name, ""), body, http.StatusCreated)
	if st := s.awaitOperation(resp); st != "Succeeded" {
		s.t.Fatalf("creating %s ended %s", name, st)
	}
}

func (s *serve) publish(version string) {
	s.t.Helper()
	s.call("POST", "/osupgrade/images", map[string]string{"image": ubuntuImage, "version": version}, http.StatusCreated)
}

// upgrade starts a manual OS upgrade (R-TRIG-3) and returns how its
// operation ended.
func (s *serve) upgrade(set string) string {
	s.t.Helper()
	resp, _ := s.call("POST", armPath(set, "/osRollingUpgrade"), nil, http.StatusAccepted)
	return s.awaitOperation(resp)
}

// awaitOperation moves the virtual clock until the operation of resp
// (Azure-AsyncOperation) ends, and returns its status.
func (s *serve) awaitOperation(resp *http.Response) string {
	s.t.Helper()
	op := resp.Header.Get("Azure-AsyncOperation")
	if op == "" {
		s.t.Fatalf("%s %s: no Azure-AsyncOperation header", resp.Request.Method, resp.Request.URL)
	}
	var st struct{ Status string }
	s.advanceUntil("operation "+op+" to end", 24*time.Hour, func() bool {
		_, b := s.call("GET", op, nil, http.StatusOK)
		s.decode(b, &st)
		return st.Status != "InProgress"
	})
	return st.Status
}

// advanceUntil moves the virtual clock a minute at a time until done
// holds, for at most limit of virtual time.
func (s *serve) advanceUntil(what string, limit time.Duration, done func() bool) {
	s.t.Helper()
	for range int(limit / time.Minute) {
		if done() {
			return
		}
		s.call("POST", "/osupgrade/clock", map[string]string{"advance": "1m"}, http.StatusOK)
	}
	if !done() {
		s.t.Fatalf("still waiting for %s after %v of virtual time", what, limit)
	}
}

// historyEntry is what the test reads of an osUpgradeHistory entry.
type historyEntry struct {
	Properties struct {
		RunningStatus struct{ Code string }
		StartedBy     string
		Progress      struct {
			SuccessfulInstanceCount int
			FailedInstanceCount     int
		}
		RollbackInfo struct{ SuccessfullyRolledbackInstanceCount int }
	}
}

// vmEntry is what the test reads of a scale set VM with its instance view.
type vmEntry struct {
	Properties struct {
		InstanceView struct {
			VMHealth struct {
				Status struct{ Code string }
			}
		}
	}
}

// pages follows nextLink from path and returns every value.
func pages[T any](s *serve, path string) []T {
	s.t.Helper()
	var all []T
	for path != "" {
		_, b := s.call("GET", path, nil, http.StatusOK)
		var page struct {
			Value    []T
			NextLink string
		}
		s.decode(b, &page)
		all = append(all, page.Value...)
		path = page.NextLink
	}
	return all
}

func (s *serve) history(set string) []historyEntry {
	return pages[historyEntry](s, armPath(set, "/osUpgradeHistory"))
}

func (s *serve) instanceViews(set string) []vmEntry {
	return pages[vmEntry](s, armPath(set, "/virtualMachines", "$expand=instanceView"))
}

// prometheus is a prometheus server on a loopback port with its own
// storage.
type prometheus struct {
	url    string
	client *http.Client
}

func startPrometheus(t *testing.T, bin, config string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackAddr(t)
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("prometheus log:\n%s", b)
			}
		}
	})
	p := &prometheus{url: "http://" + addr, client: &http.Client{Timeout: 10 * time.Second}}
	p.poll(t, "prometheus to be ready", func() (bool, string) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited: %v", err)
		default:
		}
		resp, err := p.client.Get(p.url + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// poll calls cond every 200 ms until it holds, for at most a minute; last
// says what was seen, for the failure.
func (p *prometheus) poll(t *testing.T, what string, cond func() (ok bool, last string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s; last seen: %s", what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// api GETs a Prometheus HTTP API path and decodes its data.
func (p *prometheus) api(t *testing.T, path string, data any) {
	t.Helper()
	resp, err := p.client.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Status string
		Error  string
		Data   json.RawMessage
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Status != "success" {
		t.Fatalf("GET %s: %s %v: %s", path, resp.Status, err, b)
	}
	if err := json.Unmarshal(body.Data, data); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body.Data)
	}
}

// vector runs an instant PromQL query and returns its samples by the
// values of the labels in by (joined with "/").
func (p *prometheus) vector(t *testing.T, query, by string) map[string]float64 {
	t.Helper()
	var data struct {
		ResultType string
		Result     []struct {
			Metric map[string]string
			Value  [2]any
		}
	}
	p.api(t, "/api/v1/query?query="+url.QueryEscape(query), &data)
	if data.ResultType != "vector" {
		t.Fatalf("%s: result type %q, want vector", query, data.ResultType)
	}
	out := map[string]float64{}
	for _, r := range data.Result {
		var key []string
		for _, l := range strings.Split(by, "/") {
			key = append(key, r.Metric[l])
		}
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s: sample %v: %v", query, r.Value, err)
		}
		out[strings.Join(key, "/")] = v
	}
	return out
}

// targetHealth says how the scrapes of the osupgrade job go.
func (p *prometheus) targetHealth(t *testing.T) string {
	t.Helper()
	var data struct {
		ActiveTargets []struct {
			ScrapeURL string
			Health    string
			LastError string
		}
	}
	p.api(t, "/api/v1/targets", &data)
	return fmt.Sprintf("%+v", data.ActiveTargets)
}

// alerts are the active alerts' states, by name and the labels that tell
// them apart.
func (p *prometheus) alerts(t *testing.T) map[string]string {
	t.Helper()
	var data struct {
		Alerts []struct {
			Labels map[string]string
			State  string
		}
	}
	p.api(t, "/api/v1/alerts", &data)
	out := map[string]string{}
	for _, a := range data.Alerts {
		key := a.Labels["alertname"]
		for _, l := range []string{"status", "started_by", "scale_set"} {
			if v, ok := a.Labels[l]; ok {
				key += "/" + v
			}
		}
		out[key] = a.State
	}
	return out
}
