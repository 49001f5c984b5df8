package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// Off a terminal, --progress plain (and auto, which picks it there) prints
// one line per event that matters: each batch of a run, chaos every tenth
// of its runs, each benchmark turn; none prints none of them.
func TestProgressOffATerminal(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", passing)
	batches := "small (sim) web: rollout started at 0s\n" +
		"small (sim) web: batch 1 started at 0s\n" +
		"small (sim) web: batch 1 finished at 35s\n" +
		"small (sim) web: batch 2 started at 35s\n"
	for _, tc := range []struct {
		name    string
		args    []string
		want    string // in stderr
		wantNot string // not in stderr
	}{
		{"run plain", []string{"run", good, "--progress", "plain"}, batches, "\r"},
		{"run auto on a buffer", []string{"run", good}, "small (sim) web: batch 5 finished at 2m55s\nsmall (sim) web: rollout finished at 2m55s\n✓ small", "\r"},
		{"run none", []string{"run", good, "--progress", "none"}, "✓ small", "batch"},
		{"chaos plain", []string{"chaos", "--runs", "20", "--max-instances", "5", "--out", filepath.Join(dir, "c"), "--progress", "plain"}, "chaos seed 1: run 1/20 (", "run 2/20"},
		{"chaos none", []string{"chaos", "--runs", "2", "--max-instances", "5", "--out", filepath.Join(dir, "c"), "--progress", "none"}, "", "chaos seed"},
		{"bench plain", []string{"bench", "--quick", "--only", "planner", "--baseline", "", "--out", filepath.Join(dir, "b"), "--progress", "plain"}, "bench [1/25] planner N=1000 rep 1/10\nbench [2/25]", "\r"},
		{"bench none", []string{"bench", "--quick", "--only", "planner", "--baseline", "", "--out", filepath.Join(dir, "b"), "--progress", "none"}, "", "bench ["},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := dispatch(context.Background(), tc.args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\nstderr: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) || (tc.wantNot != "" && strings.Contains(stderr.String(), tc.wantNot)) {
				t.Fatalf("stderr:\n%s\nwant it to contain %q and not %q", stderr.String(), tc.want, tc.wantNot)
			}
		})
	}
	var stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"run", good, "--progress", "live"}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), `--progress is "live", want auto, plain or none`) {
		t.Fatalf("--progress live: exit %d, stderr %s", code, stderr.String())
	}
}

// The Docker fleet's set-up lines reach a CI log through --progress
// (plain, or auto off a terminal), and none keeps them out.
func TestProgressShowsDockerSetUp(t *testing.T) {
	fake := fakeDocker(t, false)
	open := fake.Open
	fake.Open = func(ctx context.Context, c backend.Config) (backend.Fleet, error) {
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "docker: built OS image osupgrade-os:2.0.0\n")
			fmt.Fprintf(c.Progress, "docker: web: 5/5 instances started\n")
		}
		return open(ctx, c)
	}
	good := write(t, t.TempDir(), "good.yaml", passing)
	for _, tc := range []struct {
		mode string
		want bool
	}{{"plain", true}, {"auto", true}, {"none", false}} {
		var stdout, stderr bytes.Buffer
		if code := dispatch(context.Background(), []string{"run", "--fleet", "docker", "--time-scale", "3000", "--progress", tc.mode, good}, &stdout, &stderr); code != 0 {
			t.Fatalf("--progress %s: exit %d\n%s", tc.mode, code, stderr.String())
		}
		got := strings.Contains(stderr.String(), "docker: built OS image osupgrade-os:2.0.0\ndocker: web: 5/5 instances started\n") &&
			strings.Contains(stderr.String(), "small (docker) web: batch 1 started")
		if got != tc.want {
			t.Errorf("--progress %s: stderr %q, want the set-up and batch lines: %v", tc.mode, stderr.String(), tc.want)
		}
	}
}
