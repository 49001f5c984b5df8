package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/osupgrade/osupgrade/orchestrator/boltstore"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
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

// killSeedEnv replays the kill points of a run of
// TestKillAndResumeWithFaultsOnDocker: the seed it printed.
const killSeedEnv = "OSUPGRADE_KILL_SEED"

// killSeed is the seed of the kill points: the one killSeedEnv gives, else
// a new one each run (printed), so that runs over time kill in every batch
// and at every moment of one, and a failure replays with its seed.
func killSeed(t *testing.T) uint64 {
	t.Helper()
	v := os.Getenv(killSeedEnv)
	if v == "" {
		return rand.Uint64()
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s is %q, want the seed a run printed", killSeedEnv, v)
	}
	return n
}

// batchStarts is when each batch of set "kill" began (the times of its
// journaled reimage decisions) and when its rollout ended (its first entry
// in a final status; the last entry's time while there is none), in
// scenario time.
func batchStarts(t *testing.T, p *serveProcess) (starts []time.Time, end time.Time) {
	t.Helper()
	var page struct {
		Entries []boltstore.JournalRecord `json:"entries"`
	}
	p.emulator(t, "GET", "/osupgrade/journal?set=kill", nil, &page)
	ended := false
	for _, e := range page.Entries {
		if len(e.Reimages) > 0 {
			starts = append(starts, e.Time)
		}
		switch {
		case ended:
		case len(starts) > 0 && slices.Contains([]plan.Status{plan.StatusCompleted, plan.StatusFaulted, plan.StatusCancelled}, e.Status):
			end, ended = e.Time, true
		case e.Time.After(end):
			end = e.Time
		}
	}
	return starts, end
}

// killPoint is where a killed run dies: in batch (1-based), after into
// of scenario time since the batch began.
type killPoint struct {
	batch int
	into  time.Duration
}

// drawKill draws a batch of the uninterrupted run (whose batches began at
// starts, and which ended at end) and a moment within it.
func drawKill(rng *rand.Rand, starts []time.Time, end time.Time) killPoint {
	b := rng.IntN(len(starts))
	until := end
	if b+1 < len(starts) {
		until = starts[b+1]
	}
	return killPoint{batch: b + 1, into: time.Duration(rng.Int64N(int64(max(until.Sub(starts[b]), 1))))}
}

// killAt waits until the run on p is at the kill point, then kills p with
// SIGKILL and reports where it died. The run's timing is not its twin's
// (a busy engine): when it moves past the drawn batch, or ends, before
// the drawn moment, it is killed there, and that is reported.
func killAt(t *testing.T, ctx context.Context, p *serveProcess, rolling *armcompute.VirtualMachineScaleSetRollingUpgradesClient, kp killPoint, scale float64) string {
	t.Helper()
	var began time.Time // wall time batch kp.batch was seen begun
	for {
		starts, _ := batchStarts(t, p)
		latest, err := rolling.GetLatest(ctx, testRG, "kill", nil)
		if err != nil {
			t.Fatal(err)
		}
		code := *latest.Properties.RunningStatus.Code
		if len(starts) >= kp.batch && began.IsZero() {
			began = time.Now()
		}
		due := !began.IsZero() && time.Since(began) >= time.Duration(float64(kp.into)/scale)
		if due || len(starts) > kp.batch || code != armcompute.RollingUpgradeStatusCodeRollingForward {
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p.done
			pr := latest.Properties.Progress
			where := fmt.Sprintf("in batch %d of the run, %s, %d upgraded, %d in progress", len(starts), code, *pr.SuccessfulInstanceCount, *pr.InProgressInstanceCount)
			if !due {
				where += fmt.Sprintf(" (before the drawn moment, %v into batch %d: the run moved on first)", kp.into, kp.batch)
			}
			return where
		}
		select {
		case <-ctx.Done():
			t.Fatalf("batch %d did not begin: %v", kp.batch, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestKillAndResumeWithFaultsOnDocker runs `osupgrade serve --fleet docker`
// through a rollout with a fault injected through /osupgrade/faults, once
// uninterrupted and once killed with SIGKILL and started again on the same
// data directory: the outcomes are identical. The kill point is drawn
// (seeded, killSeedEnv) over the uninterrupted run's batches: a batch, and
// a moment within it. The faults are a bad image (never-healthy) and a
// network partition of one instance.
func TestKillAndResumeWithFaultsOnDocker(t *testing.T) {
	requireDocker(t)
	if testing.Short() {
		t.Skip("four rollouts of 10 containers; skipped with -short")
	}
	t.Parallel() // beside the package's other Docker tests (docker_test.go)
	bin := filepath.Join(t.TempDir(), "osupgrade")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/osupgrade/osupgrade/cmd/osupgrade").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	seed := killSeed(t)
	t.Logf("kill points drawn with seed %d (replay: %s=%d)", seed, killSeedEnv, seed)
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
	for i, fl := range faults {
		t.Run(fl.name, func(t *testing.T) {
			t.Parallel() // each fault's pair of runs on its own data directories
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			var outcomes [2][]string
			var kp killPoint
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
					where := killAt(t, ctx, p, rolling, kp, scale)
					t.Logf("%s: drawn batch %d, %v into it; killed %s", fl.name, kp.batch, kp.into, where)
					p = startServeOn(t, bin, data, "docker", scale)
					rolling = p.factory(t).NewVirtualMachineScaleSetRollingUpgradesClient()
				}
				final := waitLatest(t, ctx, rolling, "kill", func(s armcompute.RollingUpgradeStatusInfo) bool {
					return *s.Properties.RunningStatus.Code != armcompute.RollingUpgradeStatusCodeRollingForward
				})
				outcomes[run] = dockerOutcome(t, ctx, p, final)
				t.Logf("%s, killed %v: %v", fl.name, kill, outcomes[run])
				if !kill {
					starts, end := batchStarts(t, p)
					if len(starts) == 0 {
						t.Fatalf("%s: the uninterrupted run journaled no batch to kill in", fl.name)
					}
					kp = drawKill(rng, starts, end)
					t.Logf("%s: the uninterrupted run went through %d batches", fl.name, len(starts))
				}
				if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				<-p.done
			}
			if !slices.Equal(outcomes[0], outcomes[1]) {
				t.Errorf("%s: the killed run (drawn batch %d, %v into it; seed %d) ended\n%v\nthe uninterrupted one\n%v", fl.name, kp.batch, kp.into, seed, outcomes[1], outcomes[0])
			}
		})
	}
}
