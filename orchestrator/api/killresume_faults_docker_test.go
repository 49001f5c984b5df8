package api

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
)

// dockerOutcome is what must not differ between a rollout on Docker and
// its twin whose server was killed: status, error code and every
// instance's version and health.
func dockerOutcome(t *testing.T, ctx context.Context, p *serveProcess, final armcompute.RollingUpgradeStatusInfo) []string {
	t.Helper()
	out := []string{string(*final.Properties.RunningStatus.Code)}
	if e := final.Properties.Error; e != nil && e.Code != nil {
		out = append(out, *e.Code)
	}
	c := p.factory(t).NewVirtualMachineScaleSetVMsClient()
	for _, vm := range listVMs(t, c, "kill") {
		iv, err := c.GetInstanceView(ctx, testRG, "kill", *vm.InstanceID, nil)
		if err != nil {
			t.Fatal(err)
		}
		health := "none"
		if iv.VMHealth != nil {
			health = *iv.VMHealth.Status.Code
		}
		out = append(out, fmt.Sprintf("%s %s %s", *vm.InstanceID, *vm.Properties.StorageProfile.ImageReference.ExactVersion, health))
	}
	slices.Sort(out[1:])
	return out
}

// TestKillAndResumeWithFaultsOnDocker runs `osupgrade serve --fleet docker`
// through a rollout with a fault injected through /osupgrade/faults, once
// uninterrupted and once killed with SIGKILL in batch 1 and started again
// on the same data directory: the outcomes are identical. The faults are a
// bad image (never-healthy) and a network partition of one instance.
func TestKillAndResumeWithFaultsOnDocker(t *testing.T) {
	requireDocker(t)
	if testing.Short() {
		t.Skip("four rollouts of 10 containers; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "osupgrade")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/osupgrade/osupgrade/cmd/osupgrade").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	faults := []struct {
		name   string
		inject func(t *testing.T, p *serveProcess)
	}{
		{"bad-image", func(t *testing.T, p *serveProcess) {
			p.emulator(t, "POST", "/osupgrade/faults", map[string]any{"fault": "bad-image", "version": killTarget, "kind": "never-healthy"}, nil)
		}},
		{"partition", func(t *testing.T, p *serveProcess) {
			p.emulator(t, "POST", "/osupgrade/faults", map[string]any{"scaleSet": "kill", "instances": []int{3}, "fault": "partition", "on": true}, nil)
		}},
	}
	for _, fl := range faults {
		t.Run(fl.name, func(t *testing.T) {
			var outcomes [2][]string
			for run, kill := range []bool{false, true} {
				data := t.TempDir()
				runID := DockerRunID(data)
				cleanRunAtEnd(t, runID)
				ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
				defer cancel()
				// Time scale 10: a 30 s boot is 3 wall seconds, the
				// 5-minute health wait 30.
				const scale = 10
				p := startServeOn(t, bin, data, "docker", scale)
				f := createAndPublish(t, ctx, p, scaleSetBody(10))
				fl.inject(t, p)
				rolling := f.NewVirtualMachineScaleSetRollingUpgradesClient()
				if _, err := rolling.BeginStartOSUpgrade(ctx, testRG, "kill", nil); err != nil {
					t.Fatal(err)
				}
				if kill {
					before := waitLatest(t, ctx, rolling, "kill", func(s armcompute.RollingUpgradeStatusInfo) bool {
						return *s.Properties.Progress.InProgressInstanceCount > 0
					})
					if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					<-p.done
					t.Logf("%s: killed with %d upgraded, %d in progress", fl.name, *before.Properties.Progress.SuccessfulInstanceCount, *before.Properties.Progress.InProgressInstanceCount)
					p = startServeOn(t, bin, data, "docker", scale)
					rolling = p.factory(t).NewVirtualMachineScaleSetRollingUpgradesClient()
				}
				final := waitLatest(t, ctx, rolling, "kill", func(s armcompute.RollingUpgradeStatusInfo) bool {
					return *s.Properties.RunningStatus.Code != armcompute.RollingUpgradeStatusCodeRollingForward
				})
				outcomes[run] = dockerOutcome(t, ctx, p, final)
				t.Logf("%s, killed %v: %v", fl.name, kill, outcomes[run])
				if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				<-p.done
			}
			if !slices.Equal(outcomes[0], outcomes[1]) {
				t.Errorf("%s: the killed run ended\n%v\nthe uninterrupted one\n%v", fl.name, outcomes[1], outcomes[0])
			}
		})
	}
}
