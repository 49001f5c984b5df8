package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// AgentPackage is the agent's main package, built into every OS image.
const AgentPackage = "github.com/osupgrade/osupgrade/cmd/osupgrade-agent"

// agentBinary is the static agent and its content hash.
type agentBinary struct {
	bin  []byte
	hash string
}

var (
	agentMu    sync.Mutex
	agentBuilt *agentBinary
)

// loadAgent reads a prebuilt agent, or builds it once per process with
// CGO_ENABLED=0 (the image is FROM scratch: no libc).
func loadAgent(ctx context.Context, path string, progress io.Writer) (agentBinary, error) {
	if path == "" {
		path = os.Getenv("OSUPGRADE_AGENT_BINARY")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return agentBinary{}, fmt.Errorf("docker: agent binary: %w", err)
		}
		return hashed(b), nil
	}
	agentMu.Lock()
	defer agentMu.Unlock()
	if agentBuilt != nil {
		return *agentBuilt, nil
	}
	if progress != nil {
		fmt.Fprintln(progress, "docker: building the agent binary (go build, CGO_ENABLED=0)")
	}
	dir, err := os.MkdirTemp("", "osupgrade-agent-")
	if err != nil {
		return agentBinary{}, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "osupgrade-agent")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, AgentPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return agentBinary{}, fmt.Errorf("docker: build the agent (run inside the osupgrade module, or set Options.AgentBinary / OSUPGRADE_AGENT_BINARY): %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return agentBinary{}, err
	}
	h := hashed(b)
	agentBuilt = &h
	return h, nil
}

func hashed(b []byte) agentBinary {
	sum := sha256.Sum256(b)
	return agentBinary{bin: b, hash: hex.EncodeToString(sum[:])}
}

// imageTag names the OS image of a version: the content hash of everything
// in it, so an image is reused exactly when it would be rebuilt identical.
func (f *Fleet) imageTag(img plan.Image, bad fault.BadKind) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", f.agent.hash, img.Ref, img.Version, bad)
	return "osupgrade-os:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// ensureImage returns the tag of the version's OS image, building it FROM
// scratch from an in-memory context when the engine does not have it.
func (f *Fleet) ensureImage(ctx context.Context, img plan.Image) (string, error) {
	f.mu.Lock()
	bad := f.bad[img.Version]
	tag := f.imageTag(img, bad)
	lock, ok := f.builds[tag]
	if !ok {
		lock = &sync.Mutex{}
		f.builds[tag] = lock
	}
	f.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	f.mu.Lock()
	present := f.images[tag]
	f.mu.Unlock()
	if present {
		return tag, nil
	}
	if _, err := f.cli.ImageInspect(ctx, tag); err == nil {
		f.imagePresent(tag, true)
		return tag, nil
	} else if !errdefs.IsNotFound(err) {
		return "", fmt.Errorf("docker: inspect image %s: %w", tag, err)
	}
	start := time.Now()
	buildCtx, err := f.imageContext(img, bad)
	if err != nil {
		return "", err
	}
	labels := map[string]string{LabelOwner: Owner, LabelImageRef: img.Ref, LabelVersion: img.Version, LabelAgent: f.agent.hash[:16]}
	if bad != fault.BadKindNone {
		labels[LabelBad] = string(bad)
	}
	resp, err := f.cli.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{Tags: []string{tag}, Labels: labels, Remove: true, ForceRemove: true, SuppressOutput: true})
	if err != nil {
		return "", fmt.Errorf("docker: build image %s for %s: %w", tag, img, err)
	}
	defer resp.Body.Close()
	// A failed build is an {"error": ...} in the stream, not an error here.
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("docker: build image %s: read output: %w", tag, err)
		}
		if msg.Error != "" {
			return "", fmt.Errorf("docker: build image %s for %s: %s", tag, img, msg.Error)
		}
	}
	f.logf("built OS image %s for %s%s in %s", tag, img, badSuffix(bad), time.Since(start).Round(time.Millisecond))
	f.imagePresent(tag, true)
	return tag, nil
}

// imagePresent records whether the engine has an image, so that a reimage
// does not ask again; a create that finds it gone says so.
func (f *Fleet) imagePresent(tag string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ok {
		f.images[tag] = true
	} else {
		delete(f.images, tag)
	}
}

func badSuffix(b fault.BadKind) string {
	if b == fault.BadKindNone {
		return ""
	}
	return " (bad: " + string(b) + ")"
}

// imageContext is the build context: a Dockerfile, the agent, the OS
// release file and the image description the agent reads.
func (f *Fleet) imageContext(img plan.Image, bad fault.BadKind) (io.Reader, error) {
	desc, err := json.Marshal(agent.Image{Ref: img.Ref, Version: img.Version, Bad: bad})
	if err != nil {
		return nil, err
	}
	osRelease := fmt.Sprintf("NAME=\"osupgrade emulated OS\"\nID=osupgrade\nVERSION_ID=%q\nVERSION=%q\nPRETTY_NAME=%q\nIMAGE_REFERENCE=%q\n",
		img.Version, img.Version, "osupgrade "+img.String(), img.Ref)
	dockerfile := strings.Join([]string{
		"FROM scratch",
		"COPY osupgrade-agent /osupgrade-agent",
		"COPY os-release /etc/os-release",
		"COPY image.json /" + agent.ImagePath,
		"STOPSIGNAL SIGTERM",
		`ENTRYPOINT ["/osupgrade-agent"]`,
		"",
	}, "\n")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		body []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"osupgrade-agent", 0o755, f.agent.bin},
		{"os-release", 0o644, []byte(osRelease)},
		{"image.json", 0o644, desc},
	}
	for _, fl := range files {
		if err := tw.WriteHeader(&tar.Header{Name: fl.name, Mode: fl.mode, Size: int64(len(fl.body)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(fl.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}
