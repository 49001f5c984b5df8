package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// What `osupgrade init` writes runs as written: the example scenario
// passes `osupgrade run`, the example feature `osupgrade features`; a
// second init refuses to overwrite, --force overwrites.
func TestInitScaffoldRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	steps := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"init", dir}, 0, "wrote " + filepath.Join(dir, "scenarios", "example.yaml"), ""},
		{[]string{"run", "--fleet", "sim", filepath.Join(dir, "scenarios", "example.yaml")}, 0, "1 passed, 0 failed", ""},
		{[]string{"features", filepath.Join(dir, "features")}, 0, "2 scenarios (2 passed)", ""},
		{[]string{"init", dir}, 1, "", filepath.Join(dir, "features", "example.feature")},
		{[]string{"init", "--force", dir}, 0, "wrote " + filepath.Join(dir, "README.osupgrade.md"), ""},
		{[]string{"init"}, 2, "", "name one directory"},
	}
	for _, s := range steps {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), s.args, &out, &errb)
		if code != s.code || !strings.Contains(out.String(), s.stdout) || !strings.Contains(errb.String(), s.stderr) {
			t.Errorf("osupgrade %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(s.args, " "), code, s.code, out.String(), errb.String())
		}
	}
}
