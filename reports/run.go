package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// RunSchema is the version of Run's JSON shape.
const RunSchema = 1

// Run is what a run report is rendered from: the result contract of
// `osupgrade run` plus the faults its scenario applied. It is saved as
// NAME.report.json next to the HTML, so `osupgrade report DIR` renders it
// again.
type Run struct {
	Schema int             `json:"schema"`
	Result *harness.Result `json:"result"`
	Faults []FaultMark     `json:"faults,omitempty"`
}

// FaultMark is one fault the scenario applied, on the scenario clock.
type FaultMark struct {
	Fault string `json:"fault"`
	Set   string `json:"set,omitempty"` // "" for every set
	// At is the offset from the scenario's start; Fired false when an
	// `on:` fault's event never happened.
	At       time.Duration `json:"at"`
	Fired    bool          `json:"fired"`
	Duration time.Duration `json:"duration,omitempty"`
	Target   string        `json:"target"`
	When     string        `json:"when"`
}

// NewRun builds the report model of a result; sc (may be nil) supplies the
// faults: `at:` entries at their time, `on:` entries at the first matching
// rollout event of the result.
func NewRun(r *harness.Result, sc *scenario.File) *Run {
	run := &Run{Schema: RunSchema, Result: r}
	if sc == nil {
		return run
	}
	for _, e := range sc.Timeline {
		if e.Fault == "" {
			continue
		}
		m := FaultMark{Fault: e.Fault, Set: e.ScaleSet, Duration: e.Duration.Duration, Target: selection(&e)}
		switch {
		case e.At != nil:
			m.At, m.Fired, m.When = e.At.Duration, true, "at "+scenario.FormatDuration(e.At.Duration)
		default:
			m.When = "on " + e.On
			for _, ev := range r.Events {
				if ev.Event == e.On && e.Targets(ev.Set) {
					if t, err := time.Parse(time.RFC3339, ev.Time); err == nil {
						m.At, m.Fired = t.Sub(r.Start), true
						if m.Set == "" {
							m.Set = ev.Set
						}
					}
					break
				}
			}
		}
		run.Faults = append(run.Faults, m)
	}
	return run
}

func selection(e *scenario.Entry) string {
	switch {
	case e.Count != nil:
		return fmt.Sprintf("%d instances", *e.Count)
	case e.Percent != nil:
		return fmt.Sprintf("%d%% of instances", *e.Percent)
	case e.Instances != nil:
		return fmt.Sprintf("instances %v", e.Instances)
	case e.Zone != "":
		return "zone " + e.Zone
	case e.UpdateDomain != nil:
		return fmt.Sprintf("update domain %d", *e.UpdateDomain)
	case e.Version != "":
		return "version " + e.Version
	}
	return "all instances"
}

// WriteRun writes NAME.report.json, NAME.html and NAME.md for one result of
// `osupgrade run` into dir; sc is the scenario it ran (nil: no fault marks).
// This is the hook for `osupgrade run --out DIR`.
func WriteRun(dir string, r *harness.Result, sc *scenario.File) error {
	return WriteRunReport(dir, NewRun(r, sc))
}

// WriteRunReport writes a Run's three files into dir.
func WriteRunReport(dir string, run *Run) error {
	if run.Result == nil {
		return errors.New("reports: run report without a result")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, fileName(run.Result.Scenario))
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".report.json", append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md, h bytes.Buffer
	WriteRunMarkdown(&md, run)
	if err := os.WriteFile(base+".md", md.Bytes(), 0o644); err != nil {
		return err
	}
	if err := WriteRunHTML(&h, run); err != nil {
		return err
	}
	return os.WriteFile(base+".html", h.Bytes(), 0o644)
}

// fileName keeps a scenario name safe as a file name.
func fileName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "run"
	}
	return s
}

// WriteRunMarkdown writes a run's summary.
func WriteRunMarkdown(w io.Writer, run *Run) {
	r := run.Result
	verdict := "✓ passed"
	if !r.OK {
		verdict = "✗ failed"
	}
	fmt.Fprintf(w, "# %s — %s\n\n", r.Scenario, verdict)
	fmt.Fprintf(w, "Fleet %s · seed %d (replays exactly) · scenario time %s · wall %s\n\n", r.Fleet, r.Seed, r.ScenarioDuration, orDash(r.WallDuration))
	if Aggregated(r) {
		fmt.Fprintf(w, "%d scale sets, one row per region in the order of its phase (R-AVAIL-2); the result JSON lists every set.\n\n", len(r.ScaleSets))
		fmt.Fprint(w, "| phase | region (sets) | status | batches | upgraded | failed | rolled back | versions |\n|---:|---|---|---:|---:|---:|---:|---|\n")
		for _, row := range SummaryRows(r) {
			fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %d | %d | %s |\n", phaseCell(row.Phase), cell(row.Set), cell(row.Status), row.Batches, row.Upgraded, row.Failed, row.RolledBack, versions(row.Versions))
		}
	} else {
		fmt.Fprint(w, "| scale set | status | error code | batches | upgraded | failed | rolled back | versions |\n|---|---|---|---:|---:|---:|---:|---|\n")
		for _, s := range r.ScaleSets {
			up, failed, rb := 0, 0, 0
			if len(s.History) > 0 {
				p := s.History[0].Properties
				up, failed, rb = p.Progress.SuccessfulInstanceCount, p.Progress.FailedInstanceCount, p.RollbackInfo.SuccessfullyRolledbackInstanceCount
			}
			fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %d | %d | %s |\n", s.Name, s.Status, orDash(s.ErrorCode), len(lastAttempt(s.Batches)), up, failed, rb, versions(s.Versions))
		}
	}
	fmt.Fprintln(w)
	if len(r.Expectations) > 0 {
		fmt.Fprint(w, "## Expectations\n\n| | scale set | field | expected | got |\n|---|---|---|---|---|\n")
		held, listed := 0, 0
		for _, e := range r.Expectations {
			// Beyond MaxListedSets sets: the failed ones (as many as
			// MaxListedSets) and a count of the rest.
			if Aggregated(r) && (e.OK || listed == MaxListedSets) {
				if e.OK {
					held++
				}
				continue
			}
			listed++
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", mark(e.OK), orDash(e.ScaleSet), e.Field, cell(e.Expected), cell(e.Got))
		}
		if rest := len(r.Expectations) - listed; rest > 0 {
			fmt.Fprintf(w, "| %s | %d more | | %d held | %d failed |\n", mark(rest == held), rest, held, rest-held)
		}
		fmt.Fprintln(w)
	}
	if len(run.Faults) > 0 {
		fmt.Fprint(w, "## Faults\n\n| fault | when | at | for | target | scale set |\n|---|---|---|---|---|---|\n")
		for _, f := range run.Faults {
			at := scenario.FormatDuration(f.At)
			if !f.Fired {
				at = "never fired"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", f.Fault, cell(f.When), at, durOrDash(f.Duration), f.Target, orDash(f.Set))
		}
		fmt.Fprintln(w)
	}
	if len(r.Invariants) > 0 {
		fmt.Fprint(w, "## Invariants (checked from the fleet's side)\n\n| | invariant | violations | detail |\n|---|---|---:|---|\n")
		for _, v := range r.Invariants {
			fmt.Fprintf(w, "| %s | %s | %d | %s |\n", mark(v.OK), v.ID, v.Violations, cell(v.Detail))
		}
		fmt.Fprintln(w)
	}
	if r.Error != "" || len(r.Problems) > 0 {
		fmt.Fprint(w, "## Problems\n\n")
		if r.Error != "" {
			fmt.Fprintf(w, "- error: %s\n", r.Error)
		}
		for _, p := range r.Problems {
			fmt.Fprintf(w, "- %s\n", p)
		}
		fmt.Fprintln(w)
	}
}

// phaseCell is a region phase to read: "–" when unknown.
func phaseCell(p int) string {
	if p == 0 {
		return "–"
	}
	return fmt.Sprint(p)
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func durOrDash(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return scenario.FormatDuration(d)
}

func versions(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// lastAttempt is the batches of the last rollout attempt.
func lastAttempt(bs []harness.BatchResult) []harness.BatchResult {
	if len(bs) == 0 {
		return nil
	}
	a := bs[len(bs)-1].Attempt
	var out []harness.BatchResult
	for _, b := range bs {
		if b.Attempt == a {
			out = append(out, b)
		}
	}
	return out
}

var runPage = template.Must(template.New("run").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Name}} — osupgrade run</title>
<style>` + pageCSS + `
.timeline text{font-size:11px;fill:#333}.timeline .lane{fill:#fafafa;stroke:#e4e4e4}
</style></head>
<body>
<article class="md">{{.Markdown}}</article>
<section><h2>Timeline</h2>
{{range .Timelines}}<figure class="timeline" id="timeline-{{.Set}}">{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}</section>
</body></html>
`))

// WriteRunHTML writes a run's page: one SVG timeline per scale set, then
// the summary.
func WriteRunHTML(w io.Writer, run *Run) error {
	var md bytes.Buffer
	WriteRunMarkdown(&md, run)
	type tl struct {
		Set     string
		SVG     template.HTML
		Caption string
	}
	var tls []tl
	if r := run.Result; Aggregated(r) {
		// One timeline per region: its set that finished last.
		at := make(map[string]int, len(r.ScaleSets))
		for i, s := range r.ScaleSets {
			at[s.Name] = i
		}
		for _, row := range SummaryRows(r) {
			s := r.ScaleSets[at[row.Timeline]]
			svg, caption := timelineSVG(run, s)
			caption = fmt.Sprintf("%s — of the %d sets of %s (phase %s), the one that finished last", caption, row.Sets, orDash(row.Region), phaseCell(row.Phase))
			tls = append(tls, tl{Set: s.Name, SVG: svg, Caption: caption})
		}
	} else {
		for _, s := range r.ScaleSets {
			svg, caption := timelineSVG(run, s)
			tls = append(tls, tl{Set: s.Name, SVG: svg, Caption: caption})
		}
	}
	return runPage.Execute(w, map[string]any{"Name": run.Result.Scenario, "Timelines": tls, "Markdown": markdownHTML(md.String())})
}

// LoadRun reads a saved run: a NAME.report.json, or a bare result contract
// (`osupgrade run --out` / `--json`), which renders without fault marks.
func LoadRun(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, ok := probe["result"]; ok {
		var run Run
		if err := json.Unmarshal(b, &run); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if run.Result == nil {
			return nil, fmt.Errorf("%s: no result", path)
		}
		return &run, nil
	}
	if _, ok := probe["scaleSets"]; !ok {
		return nil, fmt.Errorf("%s: %w", path, ErrNotARun)
	}
	var r harness.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Run{Schema: RunSchema, Result: &r}, nil
}

// ErrNotARun marks a JSON file that is neither a run report nor a result.
var ErrNotARun = errors.New("not a run result or run report")

// parseTime reads a result's RFC 3339 time.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}
