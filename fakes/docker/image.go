package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"golang.org/x/mod/modfile"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/internal/buildinfo"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Module is osupgrade's module path: `go build AgentPackage` works only in
// a checkout of it.
const Module = "github.com/osupgrade/osupgrade"

// AgentPackage is the main package put into every OS image when the running
// executable cannot be: osupgrade itself, whose `agent` subcommand is the
// in-VM agent.
const AgentPackage = Module + "/cmd/osupgrade"

// AgentCommand is the osupgrade subcommand that runs the agent: the OS
// images' entry point is `/osupgrade agent`.
const AgentCommand = "agent"

// ErrNoAgentBinary: the OS images need a static Linux osupgrade binary, the
// running executable is not one, and Go is not there to build one.
var ErrNoAgentBinary = errors.New("docker: no static osupgrade binary for the OS images")

// staticBuildHint says exactly how to get a static osupgrade, from the
// running binary's build information: `go install` of its own module and
// version when a module proxy has that (a cgo build of `go install
// …@v1.2.3` needs only CGO_ENABLED=0 in front), else a build in the
// checkout or the latest release.
func staticBuildHint(bi *debug.BuildInfo) string {
	mod := Module
	if bi != nil && bi.Main.Path != "" {
		mod = bi.Main.Path
	}
	version, exact := buildinfo.InstallVersion(bi, mod)
	install := "`CGO_ENABLED=0 go install " + mod + "/cmd/osupgrade@" + version + "`"
	const named = "; or name a static osupgrade with OSUPGRADE_AGENT_BINARY"
	if exact {
		return "install this version static with " + install + " and run that" + named
	}
	return "build a static one in a checkout of " + mod + " with `make build` (CGO_ENABLED=0 go build -o bin/osupgrade ./cmd/osupgrade) and run bin/osupgrade, " +
		"or install the latest release with " + install + named
}

// goEnv is where findAgent would build osupgrade with Go.
type goEnv struct {
	// tool is the go command; "" when none is on PATH.
	tool string
	// module is the main module of the working directory (`go env GOMOD`),
	// "" outside one.
	module string
}

// lookGo finds the go command and the module it would build in.
func lookGo(ctx context.Context) (goEnv, error) {
	tool, err := exec.LookPath("go")
	if err != nil {
		return goEnv{}, err
	}
	out, err := exec.CommandContext(ctx, tool, "env", "GOMOD").Output()
	if err != nil {
		return goEnv{tool: tool}, nil
	}
	return goEnv{tool: tool, module: modulePath(strings.TrimSpace(string(out)))}, nil
}

// modulePath is the module a go.mod declares, "" when gomod is none
// (os.DevNull outside a module, "" with modules off) or unreadable.
func modulePath(gomod string) string {
	if gomod == "" || gomod == os.DevNull {
		return ""
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	return modfile.ModulePath(b)
}

// noAgent is findAgent's decision once the running executable will not
// do (why): nil to build osupgrade with Go, which needs Go on PATH (lookErr
// nil) and the working directory in a checkout of osupgrade; else the
// ErrNoAgentBinary to return, saying why and what to do (bi: the running
// binary's build). Outside a checkout the build would fail (no main module,
// or one that does not require osupgrade) or fetch modules: not tried.
func noAgent(why error, env goEnv, lookErr error, bi *debug.BuildInfo) error {
	var cannot string
	switch {
	case env.tool == "":
		cannot = fmt.Sprintf("there is no Go to build one (%v)", lookErr)
	case env.module == "":
		cannot = fmt.Sprintf("%s builds one only in a checkout of %s, and the working directory is in no Go module", env.tool, Module)
	case env.module != Module:
		cannot = fmt.Sprintf("%s builds one only in a checkout of %s, and the working directory is in %s", env.tool, Module, env.module)
	default:
		return nil
	}
	return fmt.Errorf("%w: %v, and %s: %s", ErrNoAgentBinary, why, cannot, staticBuildHint(bi))
}

// agentBinary is the static binary of the OS images and its content hash.
type agentBinary struct {
	bin  []byte
	hash string
}

var (
	selfIsOsupgrade atomic.Bool
	agentMu         sync.Mutex
	agentBuilt      *agentBinary
)

// ExecutableIsOsupgrade tells the fleet that the running executable is
// osupgrade, so its OS images can hold the executable itself when it is
// statically linked: no Go needed. cmd/osupgrade's main calls it; its tests
// do not (their binary is a test binary, which has no agent subcommand).
func ExecutableIsOsupgrade() { selfIsOsupgrade.Store(true) }

// loadAgent returns the binary of the OS images, once per process: a
// prebuilt one when named, else the running executable when it is a static
// osupgrade, else osupgrade built with `go build` (CGO_ENABLED=0: the image
// is FROM scratch, with no libc).
func loadAgent(ctx context.Context, path string, progress io.Writer) (agentBinary, error) {
	if path == "" {
		path = os.Getenv("OSUPGRADE_AGENT_BINARY")
	}
	if path != "" {
		if err := staticELF(path); err != nil {
			return agentBinary{}, fmt.Errorf("docker: agent binary: %w", err)
		}
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
	exe, err := os.Executable()
	if err != nil {
		exe = ""
	}
	h, err := findAgent(ctx, exe, selfIsOsupgrade.Load(), progress)
	if err != nil {
		return agentBinary{}, err
	}
	agentBuilt = &h
	return h, nil
}

// findAgent reads exe when it is a static osupgrade (self), else builds
// osupgrade with Go in a checkout of it; otherwise ErrNoAgentBinary says
// why exe would not do and exactly how to get a binary that will.
func findAgent(ctx context.Context, exe string, self bool, progress io.Writer) (agentBinary, error) {
	why := fmt.Errorf("%s is not osupgrade (a test binary?)", exe)
	if self {
		why = staticELF(exe)
		if why == nil {
			b, err := os.ReadFile(exe)
			if err != nil {
				return agentBinary{}, fmt.Errorf("docker: read this executable for the OS images: %w", err)
			}
			return hashed(b), nil
		}
	}
	bi, _ := debug.ReadBuildInfo()
	env, lookErr := lookGo(ctx)
	if err := noAgent(why, env, lookErr, bi); err != nil {
		return agentBinary{}, err
	}
	if progress != nil {
		fmt.Fprintf(progress, "docker: building osupgrade for the OS images (go build, CGO_ENABLED=0): %v\n", why)
	}
	dir, err := os.MkdirTemp("", "osupgrade-agent-")
	if err != nil {
		return agentBinary{}, fmt.Errorf("docker: build osupgrade for the OS images: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "osupgrade")
	cmd := exec.CommandContext(ctx, env.tool, "build", "-trimpath", "-ldflags=-s -w", "-o", out, AgentPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return agentBinary{}, fmt.Errorf("%w: %v, and `go build %s` failed (%v): %s\n%s", ErrNoAgentBinary, why, AgentPackage, err, staticBuildHint(bi), msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return agentBinary{}, fmt.Errorf("docker: read the osupgrade built for the OS images: %w", err)
	}
	return hashed(b), nil
}

// staticELF checks that path is a statically linked Linux executable of
// this architecture: FROM scratch has no dynamic loader and no libc.
func staticELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not a Linux executable: %w", path, err)
	}
	defer f.Close()
	if want, ok := elfMachines[runtime.GOARCH]; !ok || f.Machine != want {
		return fmt.Errorf("%s is for %v, not %s", path, f.Machine, runtime.GOARCH)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 256))
			return fmt.Errorf("%s is dynamically linked (interpreter %s; built with cgo)", path, strings.TrimRight(string(interp), "\x00"))
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		return fmt.Errorf("%s is dynamically linked (needs %s)", path, strings.Join(libs, ", "))
	}
	return nil
}

// elfMachines are the ELF machines of the architectures Go builds for
// Linux containers.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV, "loong64": elf.EM_LOONGARCH,
}

func hashed(b []byte) agentBinary {
	sum := sha256.Sum256(b)
	return agentBinary{bin: b, hash: hex.EncodeToString(sum[:])}
}

// imageTag names the OS image of a version: the binary's content hash, then
// that of everything in it, so an image is reused exactly when it would be
// rebuilt identical and different builds of osupgrade never share a tag.
func (f *Fleet) imageTag(img plan.Image, bad fault.BadKind) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", f.agent.hash, img.Ref, img.Version, bad)
	if f.olderAgents {
		h.Write([]byte("\x00older"))
	}
	return "osupgrade-os:" + f.agent.hash[:12] + "-" + hex.EncodeToString(h.Sum(nil))[:16]
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
	if !f.olderAgents {
		labels[LabelReports] = ReportsPush
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

// PrepareImage builds the version's OS image now if the engine does not
// have it (harness.ImagePreparer): a run builds its published versions
// before its clock starts, not inside a reimage's wait.
func (f *Fleet) PrepareImage(ctx context.Context, img plan.Image) error {
	_, err := f.ensureImage(ctx, img)
	return err
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
		// The owner label first: the engine's builder creates a container
		// for every later instruction and removes it; carrying the label,
		// it is osupgrade's, so a run going on meanwhile (run --parallel)
		// does not list it as someone else's object its run removed (I-7).
		"LABEL " + LabelOwner + "=" + Owner,
		// The binary first: its layer is the same in every OS image of
		// this build, so the engine stores it once.
		"COPY osupgrade /osupgrade",
		"COPY os-release /etc/os-release",
		"COPY image.json /" + agent.ImagePath,
		"STOPSIGNAL SIGTERM",
		`ENTRYPOINT ["/osupgrade", "` + AgentCommand + `"]`,
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
		{"osupgrade", 0o755, f.agent.bin},
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
