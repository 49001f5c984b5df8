package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/internal/buildinfo"
)

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// The repository's Dockerfile, as `make image` builds it: the image runs
// `osupgrade version` and a scenario on the simulator, then is removed.
func TestDockerfileImageRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds osupgrade and its image; skipped with -short")
	}
	engineOrSkip(t)
	dockerCLI, err := exec.LookPath("docker")
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("OSUPGRADE_REQUIRE_DOCKER") == "1" {
			t.Fatalf("the docker command is required here: %v", err)
		}
		t.Skipf("no docker command (%v)", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The build context make image gives: the repository's Dockerfile and
	// .dockerignore, and the static binary at bin/osupgrade.
	ctxDir := t.TempDir()
	bin, hash := buildStatic(t, t.TempDir())
	copyFile(t, bin, filepath.Join(ctxDir, "bin", "osupgrade"), 0o755)
	copyFile(t, filepath.Join(root, "Dockerfile"), filepath.Join(ctxDir, "Dockerfile"), 0o644)
	copyFile(t, filepath.Join(root, ".dockerignore"), filepath.Join(ctxDir, ".dockerignore"), 0o644)

	tag := "osupgrade-test:" + hash[:12]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dockerRun := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, dockerCLI, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	dockerRun("build", "--label", docker.LabelOwner+"="+docker.Owner, "-t", tag, ctxDir)
	t.Cleanup(func() {
		if out, err := exec.Command(dockerCLI, "rmi", "--force", tag).CombinedOutput(); err != nil {
			t.Errorf("docker rmi %s: %v\n%s", tag, err, out)
		}
	})
	if got := strings.TrimSpace(dockerRun("image", "inspect", "--format", `{{index .Config.Labels "`+docker.LabelOwner+`"}}`, tag)); got != docker.Owner {
		t.Errorf("image label %s = %q, want %q", docker.LabelOwner, got, docker.Owner)
	}

	runArgs := []string{"run", "--rm", "--label", docker.LabelOwner + "=" + docker.Owner}
	version := dockerRun(append(runArgs, tag, "version")...)
	if !strings.HasPrefix(version, "osupgrade ") || !strings.Contains(version, buildinfo.Read().GoVersion) {
		t.Errorf("osupgrade version in the image = %q", version)
	}
	// A scenario from the host on the simulator, its results written in
	// the image's working directory.
	out := dockerRun(append(runArgs, "-v", filepath.Join(root, "scenarios")+":/scenarios:ro", tag,
		"run", "--fleet", "sim", "--out", "out", "/scenarios/basic-rollout-10.yaml")...)
	if !strings.Contains(out, "1 passed, 0 failed") {
		t.Errorf("run --fleet sim in the image:\n%s", out)
	}
}
