package api

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/osupgrade/osupgrade/fakes/docker"
)

// cleanRunAtEnd removes, when the test ends, the containers, networks and
// volumes of run runID only.
func cleanRunAtEnd(t *testing.T, runID string) {
	t.Cleanup(func() {
		fl, err := docker.New(context.Background(), docker.Options{RunID: runID})
		if err != nil {
			t.Errorf("clean: %v", err)
			return
		}
		defer fl.Close()
		if err := fl.Clean(context.Background()); err != nil {
			t.Errorf("clean: %v", err)
		}
	})
}

// TestKillAndResumeOnDocker is the orchestrator-restart fault against the
// real thing: `osupgrade serve --fleet docker` (the binary users run) is
// killed with SIGKILL in the middle of a rollout of 10 containers and
// started again on the same data directory. It is judged from the engine's
// side — its event stream and the containers' labels, not the server's
// word: every instance's container was replaced exactly once, each runs the
// target version, and the server's history holds one Completed attempt.
func TestKillAndResumeOnDocker(t *testing.T) {
	requireDocker(t)
	if testing.Short() {
		t.Skip("builds osupgrade and replaces 10 containers across a SIGKILL; skipped with -short")
	}
	// Minutes of wall time, mostly waiting on containers: beside the
	// package's other Docker tests, not after them.
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "osupgrade")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/osupgrade/osupgrade/cmd/osupgrade").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := t.TempDir()
	runID := DockerRunID(data)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cli, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cleanRunAtEnd(t, runID)
	// Container creations of this run, from the engine's live event
	// stream: its history keeps only the last 256 events, which other
	// tests' containers on the same engine can push these out of.
	evFilter := filters.NewArgs(filters.Arg("label", docker.LabelRun+"="+runID), filters.Arg("label", docker.LabelSet+"=kill"),
		filters.Arg("type", string(events.ContainerEventType)), filters.Arg("event", string(events.ActionCreate)))
	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	msgs, errs := cli.Events(evCtx, events.ListOptions{Filters: evFilter})
	var createdMu sync.Mutex
	created := map[string]int{}
	eventsDone := make(chan error, 1)
	go func() {
		for {
			select {
			case m := <-msgs:
				createdMu.Lock()
				created[m.Actor.Attributes[docker.LabelInstance]]++
				createdMu.Unlock()
			case err := <-errs:
				eventsDone <- err
				return
			}
		}
	}()

	// Time scale 10: a 30 s boot is 3 wall seconds, the 5-minute health
	// wait 30, room enough on a busy 2-core machine.
	const scale = 10
	startThenKill(t, ctx, startServeOn(t, bin, data, "docker", scale), scaleSetBody(10))
	const target = killTarget

	p2 := startServeOn(t, bin, data, "docker", scale)
	f := p2.factory(t)
	final := waitLatest(t, ctx, f.NewVirtualMachineScaleSetRollingUpgradesClient(), "kill", func(s armcompute.RollingUpgradeStatusInfo) bool {
		return *s.Properties.RunningStatus.Code != armcompute.RollingUpgradeStatusCodeRollingForward
	})
	if c := *final.Properties.RunningStatus.Code; c != armcompute.RollingUpgradeStatusCodeCompleted || *final.Properties.Progress.SuccessfulInstanceCount != 10 {
		var fj json.RawMessage
		p2.emulator(t, "GET", "/osupgrade/journal?set=kill", nil, &fj)
		b, _ := json.MarshalIndent(final.Properties, "", " ")
		t.Fatalf("after the restart the rollout ended %s with %d upgraded, want Completed with 10\n%s\njournal: %s", c, *final.Properties.Progress.SuccessfulInstanceCount, b, fj)
	}

	// The engine's side: ten containers, running, on the target.
	runFilter := filters.NewArgs(filters.Arg("label", docker.LabelRun+"="+runID), filters.Arg("label", docker.LabelSet+"=kill"))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 10 {
		t.Fatalf("%d containers of the scale set after the restart, want 10", len(cs))
	}
	for _, c := range cs {
		if c.Labels[docker.LabelVersion] != target || c.State != container.StateRunning {
			t.Fatalf("container %s (instance %s) is %s on %s, want running on %s", c.Names, c.Labels[docker.LabelInstance], c.State, c.Labels[docker.LabelVersion], target)
		}
	}
	// Exactly two containers created per instance since the test began:
	// the first OS disk and one reimage, none made twice across the kill.
	// The stream delivers events in order: once every instance's second
	// creation is in, so is any creation before it (bounded wait).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		createdMu.Lock()
		all := true
		for id := range 10 {
			all = all && created[strconv.Itoa(id)] >= 2
		}
		createdMu.Unlock()
		if all {
			break
		}
	}
	stopEvents()
	if err := <-eventsDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("engine events: %v", err)
	}
	for id := range 10 {
		if n := created[strconv.Itoa(id)]; n != 2 {
			t.Fatalf("instance %d: %d containers created, want 2 (its first OS disk and one reimage); all: %v", id, n, created)
		}
	}

	var hist []*armcompute.UpgradeOperationHistoricalStatusInfo
	hp := f.NewVirtualMachineScaleSetsClient().NewGetOSUpgradeHistoryPager(testRG, "kill", nil)
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
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p2.done; err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
}
