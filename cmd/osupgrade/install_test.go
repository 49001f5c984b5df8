package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
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

// childTestOwner is the owner label (docker.TestOwnerEnv) for what an
// osupgrade this test starts creates on the engine: this test process, so
// that a killed test's run is swept by the next one (SweepDeadTestRuns),
// and so that the test can list what its run left.
func childTestOwner(t *testing.T) string {
	t.Helper()
	owner, err := docker.TestOwner()
	if err != nil {
		t.Fatal(err)
	}
	if err := docker.SweepDeadTestRunsOnce(context.Background(), io.Discard); err != nil {
		t.Logf("sweep dead test runs: %v", err)
	}
	return owner
}

// noResourcesOf fails when a container, volume or network labelled with
// owner (childTestOwner) is still on the engine: a run must remove its own.
func noResourcesOf(t *testing.T, cli *client.Client, owner string) {
	t.Helper()
	ctx := context.Background()
	sel := filters.NewArgs(filters.Arg("label", docker.LabelOwner+"="+docker.Owner), filters.Arg("label", docker.LabelTestOwner+"="+owner))
	var left []string
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: sel})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, c := range cs {
		left = append(left, "container "+strings.Join(c.Names, ","))
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: sel})
	if err != nil {
		t.Fatalf("list volumes: %v", err)
	}
	for _, v := range vs.Volumes {
		left = append(left, "volume "+v.Name)
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: sel})
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	for _, n := range ns {
		left = append(left, "network "+n.Name)
	}
	if len(left) > 0 {
		t.Errorf("the run left %d resources labelled %s=%s: %s", len(left), docker.LabelTestOwner, owner, strings.Join(left, "; "))
	}
}

// osImagesOf fails unless the engine has OS images built from the binary
// of this hash (label osupgrade.agent, tags osupgrade-os:<hash>-…): the
// containers ran the binary itself.
func osImagesOf(t *testing.T, cli *client.Client, hash, out string) {
	t.Helper()
	is, err := cli.ImageList(context.Background(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", docker.LabelAgent+"="+hash[:16]))})
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

// slowLinkThree is a scenario small enough for a loaded machine that needs
// what the README's `docker run` of the image grants: three containers, the
// first update domain's link rate-limited (tc, from the host side: the
// engine's PID namespace and NET_ADMIN + SYS_ADMIN), so its boot misses the
// 5-minute wait, its rollback boots as slowly and the rollout stops
// (R-STOP-1). Without those options the fault cannot be applied and the run
// fails. The fault lasts past the rollback's wait; about 30 s at scale 60.
const slowLinkThree = `name: slow-link-3
seed: 15
scaleSets:
  - name: web
    instances: 3
    image: Canonical:UbuntuServer:18.04-LTS:latest
    runningVersion: 18.04.202101010
    extensions:
      - {name: app, type: CustomScript}
      - {name: config, type: CustomScript, provisionAfterExtensions: [app]}
images:
  - {image: Canonical:UbuntuServer:18.04-LTS:18.04.202102010, publishAt: 0s}
timeline:
  - {at: 0s, fault: slow-link, updateDomain: 0, rate: 1024, duration: 25m}
expect:
  status: Faulted
  errorCode: MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade
  startedBy: Platform
  failed: 1
  rolledBack: 0
  versions: {18.04.202101010: 3}
`

// Issue 18's "done when", as a new user with only the binary and Docker
// goes: a static osupgrade copied to a directory, run with no go on PATH
// and no source tree, scaffolds a repository (`osupgrade init`), runs its
// example scenario on containers, runs its example feature on containers,
// and the run's index page names the scenario. Its OS images hold the
// binary itself (before, the fleet ran `go build …/cmd/osupgrade-agent` and
// failed without Go), and the runs leave no container, volume or network.
func TestInstalledBinaryRunsDockerFleetWithoutGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds osupgrade and runs containers; skipped with -short")
	}
	cli := engineOrSkip(t)
	bin, hash := buildStatic(t, t.TempDir())
	// A copy, run from a directory outside the module: no source either.
	work := t.TempDir()
	copied := filepath.Join(work, "osupgrade")
	copyFile(t, bin, copied, 0o755)
	owner := childTestOwner(t)
	t.Cleanup(func() { removeImagesOf(t, cli, hash) })
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	env := append(withoutGo(t), docker.TestOwnerEnv+"="+owner)
	osupgrade := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, copied, args...)
		cmd.Dir = work
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("osupgrade %s without go: %v\n%s", strings.Join(args, " "), err, out)
		}
		if strings.Contains(string(out), "go build") {
			t.Errorf("osupgrade %s built with go:\n%s", strings.Join(args, " "), out)
		}
		return string(out)
	}

	osupgrade("init", "repo")
	// The README's time scale is 20; 60 (the default) keeps this short.
	out := osupgrade("run", "--fleet", "docker", "--time-scale", "60", "--out", "out", filepath.Join("repo", "scenarios", "example.yaml"))
	if !strings.Contains(out, "1 passed, 0 failed") {
		t.Errorf("osupgrade run --fleet docker on the example scenario:\n%s", out)
	}
	osImagesOf(t, cli, hash, out)
	// The example feature's scenarios run on containers as written.
	if out := osupgrade("features", "--fleet", "docker", filepath.Join("repo", "features")); !strings.Contains(out, "2 scenarios (2 passed)") {
		t.Errorf("osupgrade features --fleet docker on the example feature:\n%s", out)
	}
	index, err := os.ReadFile(filepath.Join(work, "out", "index.html"))
	if err != nil {
		t.Fatalf("the run's index page: %v", err)
	}
	if !strings.Contains(string(index), `href="example.html"`) || !strings.Contains(string(index), ">example<") {
		t.Errorf("index.html does not name the example scenario and link its page:\n%s", index)
	}
	noResourcesOf(t, cli, owner)
}
