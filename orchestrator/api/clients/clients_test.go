// Package clients runs the stock Azure clients people script with (Debian's
// azure-cli and python3-azure) against `osupgrade serve`: the workflows in
// ../testdata/clients/, which the README's quickstarts are copied from.
// A separate package so that its minutes of client start-ups do not count
// against the api package's test timeout.
package clients

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/api"
)

// requireClient skips a test whose client is not installed, except in CI
// (CI set), where .ci/run installs it and its absence is a failure.
func requireClient(t *testing.T, what, install string, present bool) {
	t.Helper()
	if present {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed and CI is set: .ci/run installs it (apt-get install %s)", what, install)
	}
	t.Skipf("%s is not installed (apt-get install %s); in CI this fails instead", what, install)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve starts `osupgrade serve --fleet sim --clock virtual` in process on
// a free loopback port; it returns its URL and data directory.
func serve(t *testing.T) (url, data string) {
	t.Helper()
	data = filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	log := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- api.Serve(ctx, []string{"--fleet", "sim", "--clock", "virtual", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn"}, pw, log)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, log.String())
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
			url, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		t.Fatalf("serve did not listen: %s", log.String())
	}
	return url, data
}

// run runs a workflow script with the server's address and a private
// configuration; its output is the test's log.
func run(t *testing.T, url, data string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(),
		"OSUPGRADE_URL="+url, "OSUPGRADE_DATA="+data,
		"AZURE_CONFIG_DIR="+filepath.Join(t.TempDir(), "azure"),
		"REQUESTS_CA_BUNDLE="+filepath.Join(data, "tls.crt"),
	)
	// Its background az commands are stopped with it.
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("%s: %v", args[len(args)-1], err)
	}
}

// TestClientAzureCLI: Debian's azure-cli registers serve as a cloud, signs
// in as its service principal and runs the automatic OS upgrade commands.
func TestClientAzureCLI(t *testing.T) {
	_, err := exec.LookPath("az")
	requireClient(t, "az (azure-cli)", "azure-cli", err == nil)
	url, data := serve(t)
	run(t, url, data, "bash", "../testdata/clients/az-workflow.sh")
}

// pythonWithAzure is a Python that imports azure-identity and
// azure-mgmt-compute: Debian's (/usr/bin/python3, where python3-azure
// installs them), else the first python3 on PATH.
func pythonWithAzure() string {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import azure.identity, azure.mgmt.compute, azure.mgmt.resource").Run() == nil {
			return py
		}
	}
	return ""
}

// TestClientPython: azure-identity's ClientSecretCredential and
// azure-mgmt-compute run the same workflow.
func TestClientPython(t *testing.T) {
	py := pythonWithAzure()
	requireClient(t, "python3 with azure-identity and azure-mgmt-compute", "python3-azure", py != "")
	url, data := serve(t)
	run(t, url, data, py, "../testdata/clients/python-workflow.py")
}
