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
