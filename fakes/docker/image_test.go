package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// staticProgram builds a do-nothing Go program with CGO_ENABLED=0: a
// static Linux executable, as `CGO_ENABLED=0 go install` gives.
func staticProgram(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("static ELF executables are built on Linux")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	dir := t.TempDir()
	for name, body := range map[string]string{"go.mod": "module static\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() {}\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "static")
	cmd := exec.Command(goTool, "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

// dynamicProgram is a dynamically linked executable of this machine.
func dynamicProgram(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/ls", "/usr/bin/ls", "/bin/sh"} {
		if staticELF(p) != nil {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skip("no dynamically linked executable found")
	return ""
}

func TestStaticELF(t *testing.T) {
	static := staticProgram(t)
	text := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, wantErr string
	}{
		{"static", static, ""},
		{"dynamic", dynamicProgram(t), "is dynamically linked"},
		{"not ELF", text, "is not a Linux executable"},
		{"missing", filepath.Join(t.TempDir(), "none"), "is not a Linux executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := staticELF(tc.path)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("staticELF(%s) = %v, want nil", tc.path, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("staticELF(%s) = %v, want an error with %q", tc.path, err, tc.wantErr)
			}
		})
	}
}

// Which binary the OS images get: the running executable when it is a
// static osupgrade, else a go build, else an error saying how to get one.
func TestFindAgent(t *testing.T) {
	static := staticProgram(t)
	dynamic := dynamicProgram(t)
	want, err := os.ReadFile(static)
	if err != nil {
		t.Fatal(err)
	}
	// No go on PATH: the user's machine with only the binary.
	t.Setenv("PATH", t.TempDir())
	ctx := context.Background()

	got, err := findAgent(ctx, static, true, nil)
	if err != nil {
		t.Fatalf("static osupgrade without go: %v", err)
	}
	if !bytes.Equal(got.bin, want) || got.hash != hashed(want).hash || len(got.hash) != 64 {
		t.Errorf("static osupgrade: got %d bytes hash %s, want the executable's %d bytes", len(got.bin), got.hash, len(want))
	}

	for _, tc := range []struct {
		name, exe string
		self      bool
		wantWhy   string
	}{
		{"dynamically linked osupgrade", dynamic, true, "is dynamically linked"},
		{"a test binary", static, false, "is not osupgrade"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := findAgent(ctx, tc.exe, tc.self, nil)
			if !errors.Is(err, ErrNoAgentBinary) {
				t.Fatalf("findAgent = %v, want ErrNoAgentBinary", err)
			}
			for _, part := range []string{tc.wantWhy, "no Go to build one", "CGO_ENABLED=0 go install " + AgentPackage + "@latest"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
		})
	}
}

// A dynamically linked osupgrade (a plain `go install` where gcc is) with
// Go on PATH but outside a checkout: no go build is tried (it could only
// fail), and the error says how to install a static one.
func TestFindAgentOutsideACheckout(t *testing.T) {
	dynamic := dynamicProgram(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command: %v", err)
	}
	t.Chdir(t.TempDir())
	_, err := findAgent(context.Background(), dynamic, true, nil)
	if !errors.Is(err, ErrNoAgentBinary) {
		t.Fatalf("findAgent = %v, want ErrNoAgentBinary", err)
	}
	for _, part := range []string{"is dynamically linked", "only in a checkout of " + Module, "in no Go module", "CGO_ENABLED=0 go install " + AgentPackage + "@"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not say %q", err, part)
		}
	}
	if strings.Contains(err.Error(), "failed") {
		t.Errorf("findAgent ran go build outside a checkout: %v", err)
	}
}

// What findAgent does once the running executable will not do, and what
// its error tells the user to run: the go install line names the module and
// the version the running binary was built from.
func TestNoAgentSaysWhatToDo(t *testing.T) {
	dynamic := errors.New("/home/u/go/bin/osupgrade is dynamically linked (interpreter /lib64/ld-linux-x86-64.so.2; built with cgo)")
	released := &debug.BuildInfo{Path: AgentPackage, Main: debug.Module{Path: Module, Version: "v1.2.3"}}
	pseudo := &debug.BuildInfo{Path: AgentPackage, Main: debug.Module{Path: Module, Version: "v0.0.0-20261202150000-fcca49a0b1c2"}}
	dirty := &debug.BuildInfo{Path: AgentPackage, Main: debug.Module{Path: Module, Version: "v0.0.0-20261202150000-fcca49a0b1c2+dirty"}}
	devel := &debug.BuildInfo{Path: AgentPackage, Main: debug.Module{Path: Module, Version: "(devel)"}}
	fork := &debug.BuildInfo{Path: "example.com/fork/cmd/osupgrade", Main: debug.Module{Path: "example.com/fork", Version: "v0.3.0"}}
	goTool := goEnv{tool: "/usr/local/go/bin/go"}
	inModule := func(m string) goEnv { e := goTool; e.module = m; return e }
	for _, tc := range []struct {
		name    string
		env     goEnv
		lookErr error
		bi      *debug.BuildInfo
		want    []string // in the error; none: build with go
		notWant []string
	}{
		{
			name: "go install @v1.2.3 with cgo, run in the user's repository",
			env:  inModule("example.com/app"), bi: released,
			want:    []string{"is dynamically linked", "builds one only in a checkout of " + Module + ", and the working directory is in example.com/app", "`CGO_ENABLED=0 go install " + Module + "/cmd/osupgrade@v1.2.3`", "OSUPGRADE_AGENT_BINARY"},
			notWant: []string{"@latest", "make build"},
		},
		{
			name: "go install @v1.2.3 with cgo, copied to a machine without Go",
			env:  goEnv{}, lookErr: exec.ErrNotFound, bi: released,
			want:    []string{"is dynamically linked", "there is no Go to build one", "`CGO_ENABLED=0 go install " + Module + "/cmd/osupgrade@v1.2.3`"},
			notWant: []string{"@latest"},
		},
		{
			name: "go install of a commit, outside any module",
			env:  goTool, bi: pseudo,
			want: []string{"the working directory is in no Go module", "`CGO_ENABLED=0 go install " + Module + "/cmd/osupgrade@v0.0.0-20261202150000-fcca49a0b1c2`"},
		},
		{
			name: "built in a modified checkout, copied elsewhere",
			env:  goTool, bi: dirty,
			want:    []string{"`make build`", "CGO_ENABLED=0 go build -o bin/osupgrade ./cmd/osupgrade", "`CGO_ENABLED=0 go install " + Module + "/cmd/osupgrade@latest`"},
			notWant: []string{"+dirty"},
		},
		{
			name: "built in a checkout, no build version",
			env:  goEnv{}, lookErr: exec.ErrNotFound, bi: devel,
			want: []string{"there is no Go to build one", "`make build`", "@latest`"},
		},
		{
			name: "no build information",
			env:  goEnv{}, lookErr: exec.ErrNotFound,
			want: []string{"`CGO_ENABLED=0 go install " + AgentPackage + "@latest`"},
		},
		{
			name: "a fork's release",
			env:  inModule("example.com/app"), bi: fork,
			want: []string{"`CGO_ENABLED=0 go install example.com/fork/cmd/osupgrade@v0.3.0`"},
		},
		{name: "in a checkout of osupgrade: go build", env: inModule(Module), bi: released},
		{name: "in a checkout, built there: go build", env: inModule(Module), bi: dirty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := noAgent(dynamic, tc.env, tc.lookErr, tc.bi)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("noAgent = %v, want nil (build with go)", err)
				}
				return
			}
			if !errors.Is(err, ErrNoAgentBinary) {
				t.Fatalf("noAgent = %v, want ErrNoAgentBinary", err)
			}
			for _, part := range tc.want {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error does not say %q:\n%v", part, err)
				}
			}
			for _, part := range tc.notWant {
				if strings.Contains(err.Error(), part) {
					t.Errorf("error says %q:\n%v", part, err)
				}
			}
		})
	}
}

// The module a go.mod declares, as `go env GOMOD` names it.
func TestModulePath(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, gomod, want string
	}{
		{"plain", "module github.com/osupgrade/osupgrade\n\ngo 1.26.8\n", Module},
		{"quoted, after a comment", "// a module\nmodule \"example.com/app\" // ours\n", "example.com/app"},
		{"a modules line is no module", "modules x\n", ""},
		{"none", "go 1.26\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".mod")
			if err := os.WriteFile(p, []byte(tc.gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := modulePath(p); got != tc.want {
				t.Errorf("modulePath(%q) = %q, want %q", tc.gomod, got, tc.want)
			}
		})
	}
	for _, gomod := range []string{"", os.DevNull, filepath.Join(dir, "absent", "go.mod")} {
		if got := modulePath(gomod); got != "" {
			t.Errorf("modulePath(%q) = %q, want none", gomod, got)
		}
	}
}

// The builder creates a container for every instruction after the first
// and removes it: the owner label comes right after FROM, so those
// containers are osupgrade's, and a run going on meanwhile does not count
// them as someone else's objects removed (I-7).
func TestImageContextLabelsFirst(t *testing.T) {
	f := &Fleet{agent: hashed([]byte("agent"))}
	r, err := f.imageContext(plan.Image{Ref: "Canonical:UbuntuServer:18.04-LTS", Version: "1.0.0"}, fault.BadKindNone)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no Dockerfile in the context: %v", err)
		}
		if h.Name != "Dockerfile" {
			continue
		}
		b, _ := io.ReadAll(tr)
		lines := strings.Split(string(b), "\n")
		if want := "LABEL " + LabelOwner + "=" + Owner; len(lines) < 2 || lines[0] != "FROM scratch" || lines[1] != want {
			t.Errorf("Dockerfile starts %q, want FROM scratch then %q", lines[:min(2, len(lines))], want)
		}
		return
	}
}
