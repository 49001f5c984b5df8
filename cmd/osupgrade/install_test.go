package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/docker"
)

// engineOrSkip connects to the engine; without one it skips, except where
// the engine is required (CI=true, OSUPGRADE_REQUIRE_DOCKER=1).
func engineOrSkip(t *testing.T) *client.Client {
	t.Helper()
	cli, err := docker.Connect(context.Background())
	if err == nil {
		t.Cleanup(func() { cli.Close() })
		return cli
	}
	if os.Getenv("CI") == "true" || os.Getenv("OSUPGRADE_REQUIRE_DOCKER") == "1" {
		t.Fatalf("the Docker engine is required here (CI=true or OSUPGRADE_REQUIRE_DOCKER=1): %v", err)
	}
	t.Skipf("no Docker engine (%v); set OSUPGRADE_REQUIRE_DOCKER=1 to make this a failure", err)
	return nil
}

// buildStatic builds this command as a user would install it (CGO_ENABLED=0
// go build) into dir and returns its path and content hash.
func buildStatic(t *testing.T, dir string) (path, hash string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command to build osupgrade: %v", err)
	}
	path = filepath.Join(dir, "osupgrade")
	cmd := exec.Command("go", "build", "-trimpath", "-o", path, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return path, hex.EncodeToString(sum[:])
}

// withoutGo is the environment with a PATH that holds no go (an empty
// directory) and nothing that names a prebuilt agent or Go's tree.
func withoutGo(t *testing.T) []string {
	t.Helper()
	env := []string{"PATH=" + t.TempDir()}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "OSUPGRADE_AGENT_BINARY" || strings.HasPrefix(k, "GO") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// removeImagesOf removes the OS images built from one binary (label
// osupgrade.agent=<its hash>), ours only.
func removeImagesOf(t *testing.T, cli *client.Client, hash string) {
	t.Helper()
	ctx := context.Background()
	sel := filters.NewArgs(filters.Arg("label", docker.LabelOwner+"="+docker.Owner), filters.Arg("label", docker.LabelAgent+"="+hash[:16]))
	is, err := cli.ImageList(ctx, image.ListOptions{Filters: sel})
	if err != nil {
		t.Errorf("list images: %v", err)
		return
	}
	for _, im := range is {
		if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v", im.ID, err)
		}
	}
}

// twoInstances is a scenario small enough for a loaded machine: two
// containers upgraded one at a time on a manual trigger.
const twoInstances = `name: installed-binary
seed: 1
scaleSets:
  - name: web
    instances: 2
    image: Canonical:UbuntuServer:18.04-LTS:latest
    runningVersion: 1.0.0
    upgradePolicy: {enableAutomaticOSUpgrade: false}
    health: extension
images:
  - {image: Canonical:UbuntuServer:18.04-LTS:2.0.0, publishAt: 0s}
timeline:
  - {at: 0s, trigger: manual}
expect:
  status: Completed
  successful: 2
  failed: 0
  versions: {2.0.0: 2}
`

// A static osupgrade copied to a machine without Go runs --fleet docker:
// its OS images hold the binary itself (issue 18, item 1). Before, the
// fleet ran `go build …/cmd/osupgrade-agent` and failed without Go.
func TestInstalledBinaryRunsDockerFleetWithoutGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds osupgrade and runs two containers; skipped with -short")
	}
	cli := engineOrSkip(t)
	bin, hash := buildStatic(t, t.TempDir())
	// A copy, run from a directory outside the module: no source either.
	work := t.TempDir()
	copied := filepath.Join(work, "osupgrade")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copied, b, 0o755); err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(work, "two.yaml")
	if err := os.WriteFile(scenario, []byte(twoInstances), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeImagesOf(t, cli, hash) })
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, copied, "run", "--fleet", "docker", "--time-scale", "10", "--out", filepath.Join(work, "out"), scenario)
	cmd.Dir = work
	cmd.Env = withoutGo(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("osupgrade run --fleet docker without go: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "go build") {
		t.Errorf("the run built with go:\n%s", out)
	}
	// The OS images hold exactly this binary: their label is its hash.
	is, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", docker.LabelAgent+"="+hash[:16]))})
	if err != nil {
		t.Fatal(err)
	}
	if len(is) == 0 {
		t.Errorf("no OS image labelled %s=%s: the images do not hold the running binary\n%s", docker.LabelAgent, hash[:16], out)
	}
	for _, im := range is {
		for _, tag := range im.RepoTags {
			if !strings.HasPrefix(tag, "osupgrade-os:"+hash[:12]+"-") {
				t.Errorf("image tag %s does not start with the binary's hash %s", tag, hash[:12])
			}
		}
	}
}
