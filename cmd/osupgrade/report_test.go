package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/reports/junit"
)

// `osupgrade run --out` writes the whole run's index.html, summary.md and
// junit.xml (one testsuite per scenario file, with its file and
// timestamp), and `osupgrade report DIR` renders them again.
func TestRunWritesTheRunIndex(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", passing)
	failing := write(t, dir, "failing.yaml", strings.Replace(strings.Replace(passing, "batches: 5", "batches: 4", 1), "name: small", "name: small-failing", 1))
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"run", "--out", out, good, failing}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr.String())
	}
	check := func(t *testing.T) {
		t.Helper()
		md := readFile(t, filepath.Join(out, "summary.md"))
		for _, want := range []string{"# osupgrade run — ✗ 1 failed, 1 passed", "2 scenarios, 2 scale sets · expectations 5/6 held", "| ✓ | small | sim | web | Completed | 5 | 3/3 |", "| ✗ | small-failing | sim | web | Completed | 5 | 2/3 |", "[small.html](small.html)"} {
			if !strings.Contains(md, want) {
				t.Errorf("summary.md lacks %q:\n%s", want, md)
			}
		}
		html := readFile(t, filepath.Join(out, "index.html"))
		for _, want := range []string{`<a href="small.html">small</a>`, `<a href="small-failing.html">small-failing</a>`, `href="small.html#timeline-web"`, good} {
			if !strings.Contains(html, want) {
				t.Errorf("index.html lacks %q", want)
			}
		}
		var doc junit.Suites
		if err := xml.Unmarshal([]byte(readFile(t, filepath.Join(out, "junit.xml"))), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Suites) != 2 || doc.Failures != 1 {
			t.Fatalf("junit.xml: %d suites, %d failures; want 2 and 1", len(doc.Suites), doc.Failures)
		}
		files := map[string]string{"small": good, "small-failing": failing}
		for _, s := range doc.Suites {
			file := files[s.Name]
			if s.File != file || s.Timestamp == "" || len(s.Cases) == 0 {
				t.Errorf("suite %s: file %q timestamp %q, %d cases; want file %s and a timestamp", s.Name, s.File, s.Timestamp, len(s.Cases), file)
			}
			for _, c := range s.Cases {
				if c.File != file || c.Timestamp == "" || !strings.HasPrefix(c.Name, s.Name+" ") || c.Classname != "scenario."+s.Name && c.Classname != "scenario."+s.Name+".invariants" {
					t.Errorf("case %+v does not carry its scenario %s, file and timestamp", c, s.Name)
				}
			}
		}
	}
	check(t)
	for _, f := range []string{"index.html", "summary.md", "junit.xml"} {
		if err := os.Remove(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	stdout.Reset()
	if code := dispatch(context.Background(), []string{"report", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), filepath.Join(out, "index.html")) {
		t.Errorf("report did not say it rendered the index: %s", stdout.String())
	}
	check(t)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
