package junit

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/harness"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestFromResults(t *testing.T) {
	results := []*harness.Result{
		{Scenario: "good", File: "scenarios/good.yaml", WallStart: t0, Fleet: "sim", Seed: 1, WallDuration: "1.5s", OK: true,
			Expectations: []harness.Expectation{{ScaleSet: "web", Field: "status", OK: true, Expected: "Completed", Got: "Completed"}},
			Invariants:   []harness.Invariant{{ID: "I-1", OK: true, Detail: "at most 2"}, {ID: "I-2", OK: true}}},
		{Scenario: "bad", File: "scenarios/bad.yaml", WallStart: t0.Add(2 * time.Second), Fleet: "sim", Seed: 2, WallDuration: "2s",
			Expectations: []harness.Expectation{{ScaleSet: "web", Field: "status", OK: false, Expected: "Completed", Got: "Faulted"}},
			Invariants:   []harness.Invariant{{ID: "I-1", OK: false, Detail: "2026-01-01T00:00:00Z web: 5 instances upgrading at once"}, {ID: "I-2", OK: true}}},
		{Scenario: "broken", File: "scenarios/broken.yaml", Fleet: "docker", Error: "engine gone\nmore"},
	}
	doc := FromResults("osupgrade run", results, Property{Name: "fleet", Value: "sim"})
	tests := []struct {
		name      string
		got, want int
	}{
		{"tests", doc.Tests, 3 + 2 + 2},
		{"failures", doc.Failures, 2},
		{"errors", doc.Errors, 1},
		{"suites", len(doc.Suites), 3},
		{"cases of good", len(doc.Suites[0].Cases), 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, doc); err != nil {
		t.Fatal(err)
	}
	var back Suites
	if err := xml.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("the output is not XML: %v\n%s", err, buf.String())
	}
	names := map[string]*Case{}
	for si := range back.Suites {
		s := &back.Suites[si]
		if s.File != "scenarios/"+s.Name+".yaml" {
			t.Errorf("suite %s: file %q", s.Name, s.File)
		}
		for i := range s.Cases {
			c := &s.Cases[i]
			names[c.Name] = c
			// Every case names its scenario and its file.
			if !strings.HasPrefix(c.Name, s.Name+" ") || !strings.HasPrefix(c.Classname, "scenario."+s.Name) || c.File != s.File {
				t.Errorf("case %q (classname %q, file %q) does not name its scenario %s and file %s", c.Name, c.Classname, c.File, s.Name, s.File)
			}
		}
	}
	for _, want := range []struct {
		name    string
		failing bool
		text    string
	}{
		{"good expectations", false, ""},
		{"good I-1", false, ""},
		{"bad expectations", true, "web status: expected Completed, got Faulted"},
		{"bad I-1", true, "5 instances upgrading at once"},
		{"bad I-2", false, ""},
	} {
		c := names[want.name]
		if c == nil {
			t.Fatalf("no testcase %q in %v", want.name, names)
		}
		if (c.Failure != nil) != want.failing {
			t.Errorf("%s: failure %v, want failing=%v", want.name, c.Failure, want.failing)
		}
		if want.failing && !strings.Contains(c.Failure.Text, want.text) {
			t.Errorf("%s: failure text %q lacks %q", want.name, c.Failure.Text, want.text)
		}
	}
	if c := names["broken expectations"]; c == nil || c.Error == nil || c.Error.Message != "engine gone" {
		t.Errorf("a run error is a testcase error with its first line as message: %+v", c)
	}
	if c := names["bad I-1"]; c.Timestamp != "2026-03-01T12:00:02Z" {
		t.Errorf("bad I-1 timestamp %q, want the scenario's wall start", c.Timestamp)
	}
	if back.Suites[1].Timestamp != "2026-03-01T12:00:02Z" || back.Suites[1].Time != 2 || back.Timestamp != "2026-03-01T12:00:00Z" || back.Time != 3.5 {
		t.Errorf("times: suite bad %s %.3fs, document %s %.3fs", back.Suites[1].Timestamp, back.Suites[1].Time, back.Timestamp, back.Time)
	}
	if c := names["broken expectations"]; c.Timestamp != "" || back.Suites[2].Timestamp != "" {
		t.Errorf("an untimed run has no timestamp: %q", c.Timestamp)
	}
}

// Tests that ran interleaved across files (godog's random order) give each
// file's suite the sum of its cases' times and its earliest start: never a
// negative time.
func TestFromOutcomesInterleaved(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	outcomes := []Outcome{ // in the order they ran
		{Suite: "Batches", File: "features/b.feature", Name: "b2", Started: at(0), Duration: 2 * time.Second, Status: Passed},
		{Suite: "Alpha", File: "features/a.feature", Name: "a1", Started: at(2), Duration: time.Second, Status: Failed, Type: "step", Message: "Then it holds: no\nmore", Detail: "Then it holds: no\nmore"},
		{Suite: "Batches", File: "features/b.feature", Name: "b1", Started: at(3), Duration: 500 * time.Millisecond, Status: Skip, Message: "skipped"},
		{Suite: "Alpha", File: "features/a.feature", Name: "a2", Started: at(4), Duration: time.Second, Status: Error, Type: "undefined", Message: "step is undefined: When x"},
	}
	doc := FromOutcomes("features", outcomes)
	if len(doc.Suites) != 2 {
		t.Fatalf("suites %+v", doc.Suites)
	}
	want := []struct {
		name, file, stamp string
		time              float64
		tests, f, e, s    int
	}{
		{"Batches", "features/b.feature", "2026-03-01T12:00:00Z", 2.5, 2, 0, 0, 1},
		{"Alpha", "features/a.feature", "2026-03-01T12:00:02Z", 2, 2, 1, 1, 0},
	}
	for i, w := range want {
		s := doc.Suites[i]
		if s.Name != w.name || s.File != w.file || s.Timestamp != w.stamp || s.Time != w.time || s.Tests != w.tests || s.Failures != w.f || s.Errors != w.e || s.Skipped != w.s {
			t.Errorf("suite %d = %s %s %s %.3fs %d tests %d/%d/%d, want %+v", i, s.Name, s.File, s.Timestamp, s.Time, s.Tests, s.Failures, s.Errors, s.Skipped, w)
		}
		for _, c := range s.Cases {
			if c.Time < 0 || c.Classname != w.name || c.File != w.file {
				t.Errorf("case %+v", c)
			}
		}
	}
	if doc.Time != 4.5 || doc.Tests != 4 || doc.Timestamp != "2026-03-01T12:00:00Z" {
		t.Errorf("document %.3fs, %d tests, %s", doc.Time, doc.Tests, doc.Timestamp)
	}
	if f := doc.Suites[1].Cases[0].Failure; f == nil || f.Message != "Then it holds: no" || f.Text != "Then it holds: no\nmore" {
		t.Errorf("failure %+v", f)
	}
	// A negative duration (a clock step) is clamped, not written.
	if d := FromOutcomes("x", []Outcome{{Suite: "s", Name: "n", Duration: -time.Second}}); d.Time != 0 || d.Suites[0].Cases[0].Time != 0 {
		t.Errorf("negative duration written: %+v", d)
	}
}
