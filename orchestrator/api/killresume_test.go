package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/osupgrade/osupgrade/fakes/docker"
)

// serveProcess is `osupgrade serve` running as a child process.
type serveProcess struct {
	cmd  *exec.Cmd
	url  string
	http *http.Client
	done chan error
}

func startServe(t *testing.T, bin, data string) *serveProcess {
	t.Helper()
	return startServeOn(t, bin, data, "sim", 60)
}

// startServeOn starts `serve` on a fleet at a time scale.
func startServeOn(t *testing.T, bin, data, fleet string, scale float64) *serveProcess {
	t.Helper()
	tokenFile := filepath.Join(data, "given-token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--fleet", fleet, "--listen", "127.0.0.1:0", "--data", data, "--clock", "real", "--time-scale", strconv.FormatFloat(scale, 'g', -1, 64), "--token-file", tokenFile)
	if fleet == "docker" {
		// The child's containers belong to this test process: swept by a
		// later one if this one is killed before its cleanup.
		opts, err := docker.ForTest(context.Background(), docker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(os.Environ(), docker.TestOwnerEnv+"="+opts.TestOwner)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
				u, _, _ := strings.Cut(rest, " ")
				urls <- u
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.url = <-urls:
	case err := <-p.done:
		t.Fatalf("serve exited before listening: %v\n%s", err, stderr.String())
	}
	pem, err := os.ReadFile(filepath.Join(data, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	p.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return p
}

func (p *serveProcess) factory(t *testing.T) *armcompute.ClientFactory {
	t.Helper()
	f, err := armcompute.NewClientFactory(testSub, fixedToken(testToken), clientOptions(p.url, p.http, ""))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (p *serveProcess) emulator(t *testing.T, method, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, p.url+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, msg)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// waitLatest polls rollingUpgrades/latest until done says so.
func waitLatest(t *testing.T, ctx context.Context, c *armcompute.VirtualMachineScaleSetRollingUpgradesClient, name string, done func(armcompute.RollingUpgradeStatusInfo) bool) armcompute.RollingUpgradeStatusInfo {
	t.Helper()
	for {
		r, err := c.GetLatest(ctx, testRG, name, nil)
		if err == nil && done(r.RollingUpgradeStatusInfo) {
			return r.RollingUpgradeStatusInfo
		}
		select {
		case <-ctx.Done():
			t.Fatalf("rollout of %s did not reach the expected state: last %+v, %v", name, r.Properties, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// killTarget is the version the kill-and-resume tests roll out.
const killTarget = "18.04.202612010"

// createAndPublish creates scale set "kill" from body on p and publishes
// killTarget.
func createAndPublish(t *testing.T, ctx context.Context, p *serveProcess, body armcompute.VirtualMachineScaleSet) *armcompute.ClientFactory {
	t.Helper()
	f := p.factory(t)
	create, err := f.NewVirtualMachineScaleSetsClient().BeginCreateOrUpdate(ctx, testRG, "kill", body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := create.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	p.emulator(t, "POST", "/osupgrade/images", map[string]string{"image": "Canonical:UbuntuServer:" + ubuntuSKU, "version": killTarget}, nil)
	return f
}

// startThenKill creates scale set "kill" from body on p, publishes
// killTarget, starts an OS upgrade and, in the middle of a batch (one in
// progress after at least one finished), kills p with SIGKILL. It returns
// the status seen just before the kill.
func startThenKill(t *testing.T, ctx context.Context, p *serveProcess, body armcompute.VirtualMachineScaleSet) armcompute.RollingUpgradeStatusInfo {
	t.Helper()
	f := createAndPublish(t, ctx, p, body)
	if _, err := f.NewVirtualMachineScaleSetRollingUpgradesClient().BeginStartOSUpgrade(ctx, testRG, "kill", nil); err != nil {
		t.Fatal(err)
	}
	before := waitLatest(t, ctx, f.NewVirtualMachineScaleSetRollingUpgradesClient(), "kill", func(s armcompute.RollingUpgradeStatusInfo) bool {
		pr := s.Properties.Progress
		return *pr.SuccessfulInstanceCount >= 2 && *pr.InProgressInstanceCount > 0
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	t.Logf("killed with %d upgraded, %d in progress", *before.Properties.Progress.SuccessfulInstanceCount, *before.Properties.Progress.InProgressInstanceCount)
	return before
}

// buildTestServer builds the sim-only osupgrade binary; skipped with -short.
func buildTestServer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the osupgrade binary")
	}
	bin := filepath.Join(t.TempDir(), "osupgrade")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/osupgrade/osupgrade/orchestrator/api/internal/testserver").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestKillAndResume starts `osupgrade serve`, starts an upgrade, kills the
// process with SIGKILL in the middle of a batch, restarts it on the same
// data directory and checks the rollout completes with no instance lost,
// none upgraded twice, and one continuous history.
func TestKillAndResume(t *testing.T) {
	bin := buildTestServer(t)
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	body := scaleSetBody(10)
	body.Tags[tagBootTime] = to.Ptr("60s")
	before := startThenKill(t, ctx, startServe(t, bin, data), body)
	const target = killTarget

	p2 := startServe(t, bin, data)
	f := p2.factory(t)
	final := waitLatest(t, ctx, f.NewVirtualMachineScaleSetRollingUpgradesClient(), "kill", func(s armcompute.RollingUpgradeStatusInfo) bool {
		return *s.Properties.RunningStatus.Code != armcompute.RollingUpgradeStatusCodeRollingForward
	})
	if c := *final.Properties.RunningStatus.Code; c != armcompute.RollingUpgradeStatusCodeCompleted || *final.Properties.Progress.SuccessfulInstanceCount != 10 {
		t.Fatalf("after the restart the rollout ended %s with %d upgraded, want Completed with 10", c, *final.Properties.Progress.SuccessfulInstanceCount)
	}

	// No instance lost: ten VMs, all on the target.
	vms := listVMs(t, f.NewVirtualMachineScaleSetVMsClient(), "kill")
	if len(vms) != 10 {
		t.Fatalf("%d VMs after the restart, want 10", len(vms))
	}
	for _, vm := range vms {
		if v := *vm.Properties.StorageProfile.ImageReference.ExactVersion; v != target {
			t.Fatalf("VM %s on %s, want %s", *vm.InstanceID, v, target)
		}
	}
	// None upgraded twice, from the fleet's side.
	var fj struct{ Entries []FleetLogEntry }
	p2.emulator(t, "GET", "/osupgrade/fleet/journal?set=kill", nil, &fj)
	reimages := map[int]int{}
	for _, e := range fj.Entries {
		if e.Kind == "reimage" {
			if e.Version != target {
				t.Fatalf("instance %d reimaged to %s", e.ID, e.Version)
			}
			reimages[e.ID]++
		}
	}
	for id := range 10 {
		if reimages[id] != 1 {
			t.Fatalf("instance %d reimaged %d times across the kill, want once (all: %v)", id, reimages[id], reimages)
		}
	}
	// One continuous history: a single attempt, and journal times that
	// never go back across the restart.
	hp := f.NewVirtualMachineScaleSetsClient().NewGetOSUpgradeHistoryPager(testRG, "kill", nil)
	var hist []*armcompute.UpgradeOperationHistoricalStatusInfo
	for hp.More() {
		page, err := hp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hist = append(hist, page.Value...)
	}
	if len(hist) != 1 || *hist[0].Properties.RunningStatus.Code != armcompute.UpgradeStateCompleted {
		t.Fatalf("history after the restart: %d entries, want one Completed", len(hist))
	}
	if !hist[0].Properties.RunningStatus.StartTime.Equal(*before.Properties.RunningStatus.StartTime) {
		t.Fatalf("the attempt's start moved across the restart: %v then %v", before.Properties.RunningStatus.StartTime, hist[0].Properties.RunningStatus.StartTime)
	}
	var jr struct {
		Entries []struct {
			Seq     uint64
			Time    time.Time
			Attempt int
		}
	}
	p2.emulator(t, "GET", "/osupgrade/journal?set=kill", nil, &jr)
	for i := 1; i < len(jr.Entries); i++ {
		if jr.Entries[i].Time.Before(jr.Entries[i-1].Time) {
			t.Fatalf("journal goes back in time at seq %d: %v after %v", jr.Entries[i].Seq, jr.Entries[i].Time, jr.Entries[i-1].Time)
		}
	}

	// SIGTERM: a graceful exit with status 0.
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p2.done; err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
}

// TestKillAndResumeKeepsBadImage is the reported restart bug, through the
// binary: a version marked bad (never-healthy) through /osupgrade/faults,
// an OS upgrade of 200 instances, `serve` killed with SIGKILL while batch 1
// is in progress and started again on the same data directory. The rollout
// ends as it does uninterrupted: Faulted, with batch 1's 40 instances on
// the bad image (before the fix: Completed with all 200 on it).
func TestKillAndResumeKeepsBadImage(t *testing.T) {
	bin := buildTestServer(t)
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	body := scaleSetBody(200)
	body.Tags[tagBootTime] = to.Ptr("60s")
	p := startServe(t, bin, data)
	f := createAndPublish(t, ctx, p, body)
	p.emulator(t, "POST", "/osupgrade/faults", map[string]any{"fault": "bad-image", "version": killTarget, "kind": "never-healthy"}, nil)
	if _, err := f.NewVirtualMachineScaleSetRollingUpgradesClient().BeginStartOSUpgrade(ctx, testRG, "kill", nil); err != nil {
		t.Fatal(err)
	}
	before := waitLatest(t, ctx, f.NewVirtualMachineScaleSetRollingUpgradesClient(), "kill", func(s armcompute.RollingUpgradeStatusInfo) bool {
		return *s.Properties.Progress.InProgressInstanceCount > 0
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	t.Logf("killed with %d in progress", *before.Properties.Progress.InProgressInstanceCount)

	p2 := startServe(t, bin, data)
	f = p2.factory(t)
	final := waitLatest(t, ctx, f.NewVirtualMachineScaleSetRollingUpgradesClient(), "kill", func(s armcompute.RollingUpgradeStatusInfo) bool {
		return *s.Properties.RunningStatus.Code != armcompute.RollingUpgradeStatusCodeRollingForward
	})
	onBad := 0
	for _, vm := range listVMs(t, f.NewVirtualMachineScaleSetVMsClient(), "kill") {
		if *vm.Properties.StorageProfile.ImageReference.ExactVersion == killTarget {
			onBad++
		}
	}
	if c := *final.Properties.RunningStatus.Code; c != armcompute.RollingUpgradeStatusCodeFaulted || onBad != 40 {
		t.Fatalf("after the restart the rollout ended %s with %d instances on the bad image, want Faulted with 40", c, onBad)
	}
}
