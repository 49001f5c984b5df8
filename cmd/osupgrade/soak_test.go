package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/internal/soak"
)

// runAsCommand makes this test binary act as the osupgrade command when
// the variable is set: the soak starts its server as a child process of
// the same executable, and a test's executable is this one.
const runAsCommand = "OSUPGRADE_TEST_RUN_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(runAsCommand) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// osupgrade soak end to end, briefly: a real `serve --fleet sim` child on
// loopback, the mixed load, the samples and every rollout replayed as its
// twin. It must pass, with every kind of request made and every rollout
// compared.
func TestSoakPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak runs for 20 s")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	soakServer, soakEnv = []string{exe, "serve"}, []string{runAsCommand + "=1"}
	t.Cleanup(func() { soakServer, soakEnv = nil, nil })
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), []string{"soak", "--duration", "20s", "--sample-every", "500ms", "--time-scale", "60", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("soak exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "soak.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res soak.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Pass || res.Rollouts.Compared == 0 || res.Rollouts.Equal != res.Rollouts.Compared || res.Rollouts.Compared != res.Rollouts.Started {
		t.Fatalf("result: pass %v, rollouts %+v", res.Pass, res.Rollouts)
	}
	kinds := map[string]bool{}
	for _, k := range res.Requests {
		kinds[k.Kind] = true
	}
	for _, k := range []string{"PUT scale set", "PATCH scale set", "DELETE scale set", "POST images", "POST faults", "POST osRollingUpgrade", "POST cancel", "GET VMs", "GET latest", "GET history", "GET journal", "GET metrics"} {
		if !kinds[k] {
			t.Errorf("no %q request made", k)
		}
	}
	if len(res.Samples.RSS) < 20 || len(res.Samples.Goroutines) < 20 || len(res.Samples.FDs) < 20 {
		t.Errorf("samples: %d RSS, %d goroutines, %d fds", len(res.Samples.RSS), len(res.Samples.Goroutines), len(res.Samples.FDs))
	}
	if !strings.Contains(stdout.String(), "PASS") {
		t.Errorf("summary lacks PASS:\n%s", stdout.String())
	}
}

// Bad flags are refused before anything starts.
func TestSoakFlags(t *testing.T) {
	for _, args := range [][]string{{"--duration", "0s"}, {"--time-scale", "-1"}, {"--pause", "0s"}, {"--rollout-workers", "0"}, {"extra"}} {
		var stdout, stderr bytes.Buffer
		if code := dispatch(context.Background(), append([]string{"soak", "--out", t.TempDir()}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("soak %v: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}
