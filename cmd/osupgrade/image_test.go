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

// readmeDockerFleetOptions are the `docker run` options the README gives
// for the Docker fleet from inside the image (the block whose command
// mounts the engine's socket), up to the image name, with $PWD as pwd:
// the test runs the image exactly as a user following the README would.
func readmeDockerFleetOptions(t *testing.T, readme []byte, pwd string) []string {
	t.Helper()
	lines := strings.Split(string(readme), "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "docker run ") || !strings.Contains(line, "/var/run/docker.sock") {
			continue
		}
		cmd := line
		for strings.HasSuffix(strings.TrimSpace(cmd), "\\") && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(strings.TrimSpace(cmd), "\\") + " " + lines[i]
		}
		var opts []string
		for _, f := range strings.Fields(cmd)[2:] {
			if f == "osupgrade" {
				return opts
			}
			opts = append(opts, strings.ReplaceAll(strings.Trim(f, `"`), "$PWD", pwd))
		}
		t.Fatalf("README's docker run with the engine socket names no osupgrade image: %s", cmd)
	}
	t.Fatal("README has no `docker run` with the engine socket (/var/run/docker.sock) for the Docker fleet")
	return nil
}

func TestReadmeDockerFleetOptions(t *testing.T) {
	readme := []byte("text\n\n```sh\ndocker run --rm osupgrade version\n" +
		"docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \\\n" +
		"  --network host --cap-add NET_ADMIN \\\n" +
		"  -v \"$PWD/scenarios:/scenarios:ro\" osupgrade run --fleet docker /scenarios\n```\n")
	got := strings.Join(readmeDockerFleetOptions(t, readme, "/tmp/x"), " ")
	want := "--rm -v /var/run/docker.sock:/var/run/docker.sock --network host --cap-add NET_ADMIN -v /tmp/x/scenarios:/scenarios:ro"
	if got != want {
		t.Errorf("options = %q, want %q", got, want)
	}
}

// The repository's Dockerfile, as `make image` builds it: the image runs
// `osupgrade version`, a scenario on the simulator, and a scenario on the
// Docker fleet with the README's `docker run` options (the engine's socket,
// the host's network and PID namespace, NET_ADMIN and SYS_ADMIN for a
// network fault), whose OS images hold the image's own binary and whose
// containers are gone at the end; then the images are removed.
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

	// The Docker fleet from inside the image, as the README runs it: its
	// $PWD/scenarios holds one small scenario with a network fault.
	cli := engineOrSkip(t)
	pwd := t.TempDir()
	if err := os.MkdirAll(filepath.Join(pwd, "scenarios"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pwd, "scenarios", "slow-link-3.yaml"), []byte(slowLinkThree), 0o644); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	owner := childTestOwner(t)
	t.Cleanup(func() { removeImagesOf(t, cli, hash) })
	fleetArgs := append([]string{"run"}, readmeDockerFleetOptions(t, readme, pwd)...)
	fleetArgs = append(fleetArgs, "--label", docker.LabelOwner+"="+docker.Owner, "-e", docker.TestOwnerEnv+"="+owner,
		tag, "run", "--fleet", "docker", "--time-scale", "60", "/scenarios")
	out = dockerRun(fleetArgs...)
	if !strings.Contains(out, "1 passed, 0 failed") || !strings.Contains(out, "removed 3 containers") {
		t.Errorf("run --fleet docker in the image (docker %s):\n%s", strings.Join(fleetArgs, " "), out)
	}
	osImagesOf(t, cli, hash, out)
	noResourcesOf(t, cli, owner)
}
