package cliflag

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTakesFlagsAnywhereAndLongFlagsWithOneDash(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		ok    bool
		fleet string
		json  bool
		run   int
		wait  time.Duration
		rest  []string
		err   string // in stderr
	}{
		{"flags first", []string{"--fleet", "docker", "a.yaml"}, 0, true, "docker", false, -1, 0, []string{"a.yaml"}, ""},
		{"flags after the file", []string{"a.yaml", "--fleet", "docker", "--json"}, 0, true, "docker", true, -1, 0, []string{"a.yaml"}, ""},
		{"one-dash long flags", []string{"-fleet", "docker", "a.yaml", "-json", "-run=3", "-wait", "2s"}, 0, true, "docker", true, 3, 2 * time.Second, []string{"a.yaml"}, ""},
		{"one-dash long flag with =", []string{"-fleet=docker"}, 0, true, "docker", false, -1, 0, []string{}, ""},
		{"a value that starts with a dash", []string{"-run", "-1", "-fleet", "-json"}, 0, true, "-json", false, -1, 0, []string{}, ""},
		{"-- ends the flags", []string{"--json", "--", "--weird", "-fleet"}, 0, true, "sim", true, -1, 0, []string{"--weird", "-fleet"}, ""},
		{"unknown long flag", []string{"a.yaml", "--bogus"}, 2, false, "", false, 0, 0, nil, "unknown flag: --bogus"},
		{"unknown one-dash flag", []string{"-bogus"}, 2, false, "", false, 0, 0, nil, "unknown shorthand flag: 'b' in -bogus"},
		{"missing value", []string{"a.yaml", "--fleet"}, 2, false, "", false, 0, 0, nil, "flag needs an argument: --fleet"},
		{"bad value", []string{"--run", "x"}, 2, false, "", false, 0, 0, nil, `invalid argument "x" for "--run`},
		{"-h", []string{"a.yaml", "-h"}, 0, false, "", false, 0, 0, nil, "Usage: test"},
		{"-help", []string{"-help"}, 0, false, "", false, 0, 0, nil, "Usage: test"},
		{"--help", []string{"--help"}, 0, false, "", false, 0, 0, nil, "Usage: test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			fs := NewFlagSet("test", &stderr)
			fleet := fs.String("fleet", "sim", "")
			asJSON := fs.Bool("json", false, "")
			run := fs.Int("run", -1, "")
			wait := fs.Duration("wait", 0, "")
			fs.Usage = func() { stderr.WriteString("Usage: test\n") }
			code, ok := Parse(fs, tc.args)
			if code != tc.code || ok != tc.ok {
				t.Fatalf("Parse(%q) = %d, %v; want %d, %v; stderr:\n%s", tc.args, code, ok, tc.code, tc.ok, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.err) {
				t.Fatalf("stderr %q, want it to contain %q", stderr.String(), tc.err)
			}
			if tc.code == 2 && !strings.HasPrefix(stderr.String(), "osupgrade test: ") {
				t.Fatalf("stderr %q: want the command named first", stderr.String())
			}
			if !ok {
				return
			}
			if *fleet != tc.fleet || *asJSON != tc.json || *run != tc.run || *wait != tc.wait || !slices.Equal(fs.Args(), tc.rest) {
				t.Fatalf("fleet %q json %v run %d wait %s args %q; want %q %v %d %s %q", *fleet, *asJSON, *run, *wait, fs.Args(), tc.fleet, tc.json, tc.run, tc.wait, tc.rest)
			}
		})
	}
}
