package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command takes its flags before or after its arguments, a long flag
// with one dash as Go's flag package did, `--` before a file named like a
// flag; -h is the usage with exit 0, an unknown flag exit 2 naming it.
func TestEveryCommandTakesFlagsAnywhere(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	good := write(t, dir, "good.yaml", passing)
	write(t, dir, "--weird", passing)
	results := filepath.Join(dir, "results")
	rendered := filepath.Join(dir, "rendered")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		file   string // exists afterwards
	}{
		{"run: flags after the file", []string{"run", good, "--fleet", "sim", "--json"}, 0, `"scenario":"small"`, "", ""},
		{"run: long flags with one dash", []string{"run", "-fleet", "sim", "-out", results, good}, 0, "1 passed, 0 failed", "", filepath.Join(results, "small.json")},
		{"run: -- then a file named --weird", []string{"run", "--json", "--", "--weird"}, 0, `"scenario":"small"`, "", ""},
		{"run: unknown flag", []string{"run", good, "--bogus"}, 2, "", "osupgrade run: unknown flag: --bogus", ""},
		{"run: -h", []string{"run", "-h"}, 0, "", "Usage: osupgrade run", ""},
		{"run: --help after a file", []string{"run", good, "--help"}, 0, "", "Usage: osupgrade run", ""},
		{"report: flag after the directory", []string{"report", results, "-out", rendered}, 0, "rendered", "", filepath.Join(rendered, "small.html")},
		{"report: unknown flag", []string{"report", results, "-bogus"}, 2, "", "osupgrade report: unknown shorthand flag: 'b' in -bogus", ""},
		{"chaos: long flags with one dash", []string{"chaos", "-runs", "1", "-max-instances", "5", "-seed=7", "-out", filepath.Join(dir, "chaos")}, 0, "seed 7: 1 runs", "", filepath.Join(dir, "chaos", "chaos-sim-7-junit.xml")},
		{"chaos: unknown flag", []string{"chaos", "--runz", "1"}, 2, "", "osupgrade chaos: unknown flag: --runz", ""},
		{"bench: one-dash flag is read", []string{"bench", "-only", "nothing"}, 2, "", `--only is "nothing"`, ""},
		{"bench: unknown flag", []string{"bench", "--bogus"}, 2, "", "osupgrade bench: unknown flag: --bogus", ""},
		{"version: one-dash flag", []string{"version", "-json"}, 0, `"go_version"`, "", ""},
		{"version: -h", []string{"version", "-h"}, 0, "", "Usage: osupgrade version", ""},
		{"features: one-dash flag", []string{"features", "-steps"}, 0, "# The steps of `osupgrade features`", "", ""},
		{"features: unknown flag", []string{"features", "x.feature", "--bogus"}, 2, "", "osupgrade features: unknown flag: --bogus", ""},
		{"init: flag after the directory", []string{"init", filepath.Join(dir, "repo"), "-force"}, 0, "wrote", "", filepath.Join(dir, "repo", "scenarios", "example.yaml")},
		{"clean: unknown flag", []string{"clean", "--all"}, 2, "", "osupgrade clean: unknown flag: --all", ""},
		{"serve: one-dash flag is read", []string{"serve", "-time-scale", "0"}, 2, "", "--time-scale 0", ""},
		{"serve: unknown flag", []string{"serve", "--bogus"}, 2, "", "osupgrade serve: unknown flag: --bogus", ""},
		{"soak: one-dash flag is read", []string{"soak", "-duration", "0s"}, 2, "", "--duration must be more than 0", ""},
		{"soak: unknown flag", []string{"soak", "--bogus"}, 2, "", "osupgrade soak: unknown flag: --bogus", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("osupgrade %s: exit %d, want %d with stdout %q and stderr %q\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, tc.stdout, tc.stderr, stdout.String(), stderr.String())
			}
			if tc.file != "" {
				if _, err := os.Stat(tc.file); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
