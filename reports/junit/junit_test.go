package junit

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/harness"
)

func TestFromResults(t *testing.T) {
	results := []*harness.Result{
		{Scenario: "good", Fleet: "sim", Seed: 1, WallDuration: "1.5s", OK: true,
			Expectations: []harness.Expectation{{ScaleSet: "web", Field: "status", OK: true, Expected: "Completed", Got: "Completed"}},
			Invariants:   []harness.Invariant{{ID: "I-1", OK: true, Detail: "at most 2"}, {ID: "I-2", OK: true}}},
		{Scenario: "bad", Fleet: "sim", Seed: 2,
			Expectations: []harness.Expectation{{ScaleSet: "web", Field: "status", OK: false, Expected: "Completed", Got: "Faulted"}},
			Invariants:   []harness.Invariant{{ID: "I-1", OK: false, Detail: "2026-01-01T00:00:00Z web: 5 instances upgrading at once"}, {ID: "I-2", OK: true}}},
		{Scenario: "broken", Fleet: "docker", Error: "engine gone\nmore"},
	}
	doc := FromResults("osupgrade run", results, Property{Name: "fleet", Value: "sim"})
	tests := []struct {
		name      string
		got, want int
	}{
		{"tests", doc.Tests, 3 + 2 + 2},
		{"failures", doc.Failures, 2},
		{"errors", doc.Errors, 1},
		{"cases", len(doc.Suites[0].Cases), 7},
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
	cases := back.Suites[0].Cases
	names := map[string]*Case{}
	for i := range cases {
		names[cases[i].Name] = &cases[i]
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
}
