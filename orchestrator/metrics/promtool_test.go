package metrics_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// prometheusInstall is how CI gets prometheus and promtool (Debian's
// package prometheus, 2.42), as .ci/run does.
const prometheusInstall = "apt-get install -y --no-install-recommends prometheus"

// rulesDir holds the alert rules that ship with the repository and their
// promtool unit tests.
var rulesDir = filepath.Join("..", "..", "docs", "prometheus")

// prometheusTool finds one of Debian's prometheus package's programs;
// absent locally the test skips, under CI (CI=true) it fails.
func prometheusTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s is not installed; install it with: %s", name, prometheusInstall)
	}
	t.Skipf("skipping: %s is not installed (install it with: %s); set CI=true to make its absence a failure", name, prometheusInstall)
	return ""
}

// TestPromtoolRules: the shipped alert rules are valid (promtool check
// rules) and fire, and do not, on the series of their unit tests (promtool
// test rules).
func TestPromtoolRules(t *testing.T) {
	promtool := prometheusTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "osupgrade.rules.yml"},
		{"test", "rules", "osupgrade.rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v in %s: %v\n%s", args, rulesDir, err, out)
		}
	}
}
