// Package agent is the in-VM agent of the Docker fleet: PID 1 of every
// container, it boots, runs custom data and the model's extensions, serves
// the app and the Application Health extension, and obeys fault switches.
//
// It is the VM's own behaviour, so it keeps wall time (scaled by the
// configured factor); it must not decide anything for the orchestrator.
package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// ErrCrash is returned by Run when the image crashes on boot
// (fault.CrashOnBoot): the process exits non-zero and the container stops.
var ErrCrash = errors.New("agent: this OS image crashes on boot")

// Options say where the agent finds its files and listens. The zero value
// is the container's: root "/", control on ControlPort, app on the model's
// port.
type Options struct {
	Root        string // prefix of every path; "" is "/"
	ControlAddr string // "" is ":32526"
	AppAddr     string // "" is ":" + the model's app port
	// Ready, when set, receives the control endpoint's address once it
	// listens.
	Ready func(controlAddr string)
	// ConfigEnv is ConfigEnv's value: the config when ConfigPath holds
	// none.
	ConfigEnv string
}

// Agent is one running agent. Its methods are safe for concurrent use.
type Agent struct {
	opts Options
	cfg  Config
	img  Image

	mu        sync.Mutex
	status    Status
	faults    Faults
	flapSince time.Time
	health    *HealthMachine
	appAddr   string

	saveMu    sync.Mutex
	lastSaved []byte

	push *pusher // nil: the config names no collector
}

// Run boots the agent and serves until ctx ends (a SIGTERM: Run returns
// nil) or the image crashes (ErrCrash).
func Run(ctx context.Context, opts Options) error {
	if opts.Root == "" {
		opts.Root = "/"
	}
	a := &Agent{opts: opts}
	if err := ReadJSON(a.path(ImagePath), &a.img); err != nil {
		return fmt.Errorf("agent: read image description: %w", err)
	}
	if err := ReadConfig(a.path(ConfigPath), opts.ConfigEnv, &a.cfg); err != nil {
		return fmt.Errorf("agent: read config: %w", err)
	}
	if a.cfg.TimeScale <= 0 {
		a.cfg.TimeScale = 1
	}
	a.faults = a.cfg.Faults
	// A status file already on the OS disk: a restart, which boots in full.
	_, statErr := os.Stat(a.path(StatusPath))
	firstStart := errors.Is(statErr, fs.ErrNotExist)
	a.status = Status{Set: a.cfg.Set, Instance: a.cfg.Instance, Image: a.img, Provisioning: plan.ProvisioningUpdating, Health: plan.HealthUnknown, Faults: a.faults}
	a.flapSince = time.Now()
	a.saveStatus()
	if a.img.Bad == fault.CrashOnBoot {
		return ErrCrash
	}
	if r := a.cfg.Report; r != nil && r.URL != "" {
		// Reports go from the start, booting included: the collector
		// hears of this boot before anything else of it.
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		a.push = newPusher(*r)
		go func() {
			defer close(done)
			a.push.run(pctx, a.Snapshot)
		}()
		defer func() {
			cancel()
			<-done
		}()
	}

	addr := opts.ControlAddr
	if addr == "" {
		addr = ":" + strconv.Itoa(ControlPort)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("agent: control endpoint: %w", err)
	}
	srv := &http.Server{Handler: a.controlHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}

	// Boot: the model's boot time plus any slow-boot delay, less what the
	// reimage has taken already on a new OS disk's first start.
	boot := a.scaled(a.cfg.Model.BootTime + a.faults.SlowBoot)
	if firstStart && !a.cfg.BootFrom.IsZero() {
		boot -= time.Since(a.cfg.BootFrom)
	}
	if !sleepWall(ctx, boot) {
		return nil
	}
	if a.cfg.LinkFaults && !a.waitLink(ctx) {
		return nil
	}
	a.runCustomData()
	a.runExtensions(ctx)
	if ctx.Err() != nil {
		return nil
	}

	stopApp, err := a.serveApp(ctx)
	if err != nil {
		return err
	}
	defer stopApp()
	a.mu.Lock()
	a.status.Booted = true
	a.health = NewHealthMachine(a.cfg.Model.AppHealth.Probes(), a.scaled(a.cfg.Model.AppHealth.Grace()), a.protocol(), time.Now())
	a.mu.Unlock()
	a.saveStatus()
	a.probeLoop(ctx)
	return nil
}

func (a *Agent) path(rel string) string { return filepath.Join(a.opts.Root, rel) }

// scaled turns scenario time into wall time.
func (a *Agent) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / a.cfg.TimeScale)
}

// linkWaitLimit bounds the wait for the fleet's link set-up, in scenario
// time: a fleet that failed to write it must not hold the boot for ever.
const linkWaitLimit = 10 * time.Minute

// waitLink waits until the fleet says the start's network faults are on
// the link (LinkReadyPath), at most linkWaitLimit; false when ctx ended.
func (a *Agent) waitLink(ctx context.Context) bool {
	limit := time.Now().Add(a.scaled(linkWaitLimit))
	for time.Now().Before(limit) {
		if b, err := os.ReadFile(a.path(LinkReadyPath)); err == nil && strings.TrimSpace(string(b)) == LinkReady {
			return true
		}
		if !sleepWall(ctx, 5*time.Millisecond) {
			return false
		}
	}
	return ctx.Err() == nil
}

// sleep waits d of scenario time; false when ctx ended first.
func (a *Agent) sleep(ctx context.Context, d time.Duration) bool {
	return sleepWall(ctx, a.scaled(d))
}

// sleepWall waits d of wall time; false when ctx ended first.
func sleepWall(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (a *Agent) protocol() string {
	if p := a.cfg.Model.AppHealth.Protocol; p != "" {
		return p
	}
	return "http"
}

func (a *Agent) appPort() int {
	if p := a.cfg.Model.AppHealth.Port; p != 0 {
		return p
	}
	return DefaultAppPort
}

// runCustomData delivers custom data once per OS disk: the marker lives in
// the writable layer, which a reimage replaces (R-UPG-1).
func (a *Agent) runCustomData() {
	runs := 0
	if b, err := os.ReadFile(a.path(CustomDataMarker)); err == nil {
		runs, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	ran := false
	if a.cfg.Model.CustomData != "" && runs == 0 {
		if err := writeFileAtomic(a.path(CustomDataPath), []byte(a.cfg.Model.CustomData)); err == nil {
			runs++
			ran = true
			_ = writeFileAtomic(a.path(CustomDataMarker), []byte(strconv.Itoa(runs)))
		}
	}
	a.mu.Lock()
	a.status.CustomDataRan, a.status.CustomDataRuns = ran, runs
	a.mu.Unlock()
}

// runExtensions runs the model's extensions in provisionAfterExtensions
// order (R-REQ-9); the first failure stops the sequence and fails
// provisioning. An extension with a SAS downloads its payload from storage
// and fails on any refusal, an expired token included (R-CRED-1).
func (a *Agent) runExtensions(ctx context.Context) {
	exts, err := orchestrator.ExtensionOrder(a.cfg.Model.Extensions)
	statuses := make([]ExtensionStatus, len(exts))
	for i, e := range exts {
		statuses[i] = ExtensionStatus{Name: e.Name, Type: e.Type, Status: ExtTransitioning}
	}
	a.setExtensions(statuses, plan.ProvisioningUpdating)
	failed := false
	if err != nil {
		failed = true
		for i := range statuses {
			statuses[i].Status, statuses[i].Message = ExtSkipped, err.Error()
		}
	}
	if a.img.Bad == fault.FailsExtensions {
		failed = true // the image fails every extension, and provisioning with none
	}
	for i, e := range exts {
		if failed {
			if statuses[i].Status == ExtTransitioning {
				statuses[i].Status = ExtSkipped
				if a.img.Bad == fault.FailsExtensions {
					statuses[i].Status, statuses[i].Message = ExtError, "the OS image fails every extension"
				}
			}
			continue
		}
		if msg := a.runExtension(ctx, e); msg != "" {
			statuses[i].Status, statuses[i].Message = ExtError, msg
			failed = true
			continue
		}
		statuses[i].Status = ExtSuccess
	}
	prov := plan.ProvisioningSucceeded
	if failed {
		prov = plan.ProvisioningFailed
	}
	a.setExtensions(statuses, prov)
}

func (a *Agent) setExtensions(s []ExtensionStatus, p plan.Provisioning) {
	a.mu.Lock()
	a.status.Extensions = append([]ExtensionStatus(nil), s...)
	a.status.Provisioning = p
	a.mu.Unlock()
	a.saveStatus()
}

// downloadTimeout bounds an extension's download, in scenario time.
const downloadTimeout = time.Hour

// runExtension returns "" on success, else the error message.
func (a *Agent) runExtension(ctx context.Context, e orchestrator.Extension) string {
	a.mu.Lock()
	injected := a.faults.ExtensionFailure
	a.mu.Unlock()
	if injected {
		return "extension failure injected"
	}
	u := a.cfg.ExtensionURLs[e.Name]
	if u == "" {
		if e.SASExpiresAt.IsZero() {
			return "" // nothing to download (an agent run without a fleet)
		}
		return "no download URL for the extension's payload"
	}
	// A slow link stretches the download, as it does a boot on the sim; the
	// bound is far past the 5-minute health wait. The storage endpoint not
	// answering (its fleet restarting) or a 5xx is retried, as the
	// CustomScript extension retries downloads; a refusal (403: an expired
	// or tampered SAS, R-CRED-1) is final.
	cctx, cancel := context.WithTimeout(ctx, a.scaled(downloadTimeout))
	defer cancel()
	var body []byte
	for backoff := a.scaled(time.Second); ; backoff = min(2*backoff, a.scaled(30*time.Second)) {
		b, status, msg := download(cctx, u)
		if status == http.StatusOK {
			body = b
			break
		}
		if status/100 == 4 || cctx.Err() != nil {
			return msg
		}
		if !sleepWall(cctx, backoff) {
			return msg
		}
	}
	if err := writeFileAtomic(filepath.Join(a.path(ExtensionDir), e.Name, "payload"), body); err != nil {
		return "store payload: " + err.Error()
	}
	return ""
}

// download GETs a payload: its body and status, or a message saying why
// not (status 0: no answer).
func download(ctx context.Context, u string) (body []byte, status int, msg string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, http.StatusBadRequest, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, "download failed: " + err.Error()
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, 0, "download failed: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, fmt.Sprintf("download failed: %d %s: %s", resp.StatusCode, resp.Header.Get("x-ms-error-code"), strings.TrimSpace(string(body)))
	}
	return body, resp.StatusCode, ""
}

// appHealthy is the app's own state: unhealthy on a never-healthy image, when
// told so, and in the odd half-periods of a flap.
func (a *Agent) appHealthy(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.appHealthyLocked(now)
}

func (a *Agent) appHealthyLocked(now time.Time) bool {
	if a.img.Bad == fault.NeverHealthy || a.faults.AppUnhealthy {
		return false
	}
	if p := a.scaled(a.faults.FlapPeriod); p > 0 && (now.Sub(a.flapSince)/p)%2 == 1 {
		return false
	}
	return true
}

// AppResponse is the app's answer, in the rich health states format.
type AppResponse struct {
	ApplicationHealthState string `json:"ApplicationHealthState"`
}

// serveApp starts the app on its port: http and https answer 200 Healthy or
// 503 Unhealthy; tcp accepts connections only while healthy.
func (a *Agent) serveApp(ctx context.Context) (stop func(), err error) {
	addr := a.opts.AppAddr
	if addr == "" {
		addr = ":" + strconv.Itoa(a.appPort())
	}
	proto := a.protocol()
	if proto == "tcp" {
		return a.serveTCPApp(ctx, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: app endpoint: %w", err)
	}
	a.mu.Lock()
	a.appAddr = ln.Addr().String()
	a.mu.Unlock()
	if proto == "https" {
		cert, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state, code := "Healthy", http.StatusOK
		if !a.appHealthy(time.Now()) {
			state, code = "Unhealthy", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(AppResponse{ApplicationHealthState: state})
	})}
	go func() { _ = srv.Serve(ln) }()
	return func() { srv.Close() }, nil
}

// serveTCPApp listens while the app is healthy and closes the port while it
// is not, so a TCP probe sees connection refused.
func (a *Agent) serveTCPApp(ctx context.Context, addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: app endpoint: %w", err)
	}
	fixed := ln.Addr().String()
	a.mu.Lock()
	a.appAddr = fixed
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	accept := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go accept(ln)
	go func() {
		defer close(done)
		tick := time.NewTicker(max(5*time.Millisecond, a.scaled(time.Second)))
		defer tick.Stop()
		open := ln
		for {
			select {
			case <-ctx.Done():
				if open != nil {
					open.Close()
				}
				return
			case now := <-tick.C:
				healthy := a.appHealthy(now)
				switch {
				case healthy && open == nil:
					if l, err := net.Listen("tcp", fixed); err == nil {
						open = l
						go accept(l)
					}
				case !healthy && open != nil:
					open.Close()
					open = nil
				}
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}

// probeLoop is the Application Health extension: it probes the app every
// interval and feeds the verdict machine.
func (a *Agent) probeLoop(ctx context.Context) {
	interval := a.scaled(a.cfg.Model.AppHealth.Interval())
	client := &http.Client{
		Timeout: max(interval, 50*time.Millisecond),
		// One kept-alive connection: a new one per probe, every 83 ms at
		// time scale 60, made idle agents cost more CPU than the rollouts
		// they stand in for.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 1},
	}
	for {
		r := a.probe(ctx, client)
		now := time.Now()
		a.mu.Lock()
		a.health.Record(r, now)
		a.mu.Unlock()
		a.saveStatus()
		if !a.sleep(ctx, a.cfg.Model.AppHealth.Interval()) {
			return
		}
	}
}

func (a *Agent) probe(ctx context.Context, client *http.Client) plan.Health {
	a.mu.Lock()
	addr := a.appAddr
	a.mu.Unlock()
	_, port, _ := net.SplitHostPort(addr)
	target := net.JoinHostPort("127.0.0.1", port)
	switch a.protocol() {
	case "tcp":
		c, err := net.DialTimeout("tcp", target, client.Timeout)
		if err != nil {
			return plan.HealthUnhealthy
		}
		c.Close()
		return plan.HealthHealthy
	default:
		u := a.protocol() + "://" + target + "/" + strings.TrimPrefix(a.cfg.Model.AppHealth.RequestPath, "/")
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return plan.HealthUnknown
		}
		resp, err := client.Do(req)
		if err != nil {
			return plan.HealthUnknown
		}
		defer resp.Body.Close()
		// Read to the end so that the connection is reused.
		defer io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		var body AppResponse
		if json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body) == nil {
			switch body.ApplicationHealthState {
			case "Healthy":
				return plan.HealthHealthy
			case "Unhealthy":
				return plan.HealthUnhealthy
			}
		}
		if resp.StatusCode/100 == 2 {
			return plan.HealthHealthy
		}
		return plan.HealthUnknown
	}
}

// Snapshot is the current status.
func (a *Agent) Snapshot() Status {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status
	s.Extensions = append([]ExtensionStatus(nil), s.Extensions...)
	s.Faults = a.faults
	s.AppHealthy = s.Booted && a.appHealthyLocked(now)
	switch {
	case a.health == nil:
		s.Health = plan.HealthUnknown
	case a.faults.Lie && a.health.State(now) != plan.HealthInitializing:
		s.Health = plan.HealthHealthy // the extension lies; a probe would not
	default:
		s.Health = a.health.State(now)
	}
	return s
}

// saveStatus writes the status file when it changed.
func (a *Agent) saveStatus() {
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	b, err := json.Marshal(a.Snapshot())
	if err != nil || string(b) == string(a.lastSaved) {
		return
	}
	if writeFileAtomic(a.path(StatusPath), b) == nil {
		a.lastSaved = b
	}
	if a.push != nil {
		a.push.notify()
	}
}

// SetFaults replaces the fault switches; a flap (re)starts its cycle now.
func (a *Agent) SetFaults(f Faults) {
	a.mu.Lock()
	if f.FlapPeriod != a.faults.FlapPeriod {
		a.flapSince = time.Now()
	}
	a.faults = f
	a.mu.Unlock()
	a.saveStatus()
}

func (a *Agent) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.Snapshot())
	})
	mux.HandleFunc("PUT /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.SetFaults(f)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.Snapshot())
	})
	return mux
}

// selfSigned makes the https app's certificate.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "osupgrade-app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
