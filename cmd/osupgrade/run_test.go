package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const passing = `name: small
scaleSets:
  - {name: web, instances: 5, image: "Canonical:UbuntuServer:18.04-LTS:latest", runningVersion: "1.0.0"}
images:
  - {image: "Canonical:UbuntuServer:18.04-LTS:2.0.0", publishAt: 0s}
timeline:
  - {at: 0s, trigger: manual}
expect: {status: Completed, batches: 5, versions: {2.0.0: 5}}
`

// osupgrade run: 0 when every expectation holds, 1 when one fails (naming
// the field, expected and got), 2 on bad input, with nothing run.
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", passing)
	failing := write(t, dir, "failing.yaml", strings.Replace(passing, "batches: 5", "batches: 4", 1))
	bad := write(t, dir, "bad.yaml", strings.Replace(passing, "instances: 5", "instances: 0", 1))
	unknown := write(t, dir, "unknown.yaml", strings.Replace(passing, "name: small", "name: small\ncolour: red", 1))
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"passing", []string{"run", good}, 0, "1 passed, 0 failed", ""},
		{"failing expectation", []string{"run", failing}, 1, "batches expected 4, got 5", ""},
		{"instances 0", []string{"run", good, bad}, 2, "", "bad.yaml:3: scaleSets[0].instances: is 0, want 1 to 1000000"},
		{"unknown field", []string{"run", unknown}, 2, "", "unknown.yaml:2: colour: unknown field"},
		{"no files", []string{"run"}, 2, "", "name at least one scenario"},
		{"bad fleet", []string{"run", "--fleet", "vmware", good}, 2, "", "--fleet is \"vmware\""},
		{"missing file", []string{"run", filepath.Join(dir, "nope.yaml")}, 2, "", "no such file"},
		{"unknown command", []string{"launch"}, 2, "", "unknown command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(context.Background(), c.args, &out, &errb)
			if code != c.code || !strings.Contains(out.String(), c.stdout) || !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
			if c.code == 2 && strings.Contains(out.String(), "passed") {
				t.Errorf("bad input ran scenarios: %s", out.String())
			}
		})
	}
}

// --json prints, and --out writes, the result contract.
func TestRunResultContract(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", passing)
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"run", "--json", "--out", out, good}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var r map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout.String())
	}
	for _, k := range []string{"scenario", "seed", "fleet", "scaleSets", "expectations", "scenarioDuration", "wallDuration"} {
		if _, ok := r[k]; !ok {
			t.Errorf("result has no %q", k)
		}
	}
	set := r["scaleSets"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "status", "errorCode", "history", "batches", "instances"} {
		if _, ok := set[k]; !ok {
			t.Errorf("scale set result has no %q", k)
		}
	}
	inst := set["instances"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "zone", "updateDomain", "version", "health", "provisioningState", "rolledBack", "dataIntact"} {
		if _, ok := inst[k]; !ok {
			t.Errorf("instance result has no %q", k)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "small.json")); err != nil {
		t.Errorf("--out wrote no small.json: %v", err)
	}
}

// Every shipped scenario parses and passes on the simulator.
func TestShippedScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("the 10^6-instance scenario takes about a second; skipped with -short")
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"run", "--fleet", "sim", "../../scenarios"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
}
