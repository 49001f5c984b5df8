package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/reports/junit"
)

// Run index file names in the output directory.
const (
	IndexHTML     = "index.html"
	IndexMarkdown = "summary.md"
	IndexJUnit    = "junit.xml"
)

// IndexSuiteName names the run's JUnit document.
const IndexSuiteName = "osupgrade run"

// runIndex is the model of a run's index: totals, then one row per
// scenario and scale set (per region beyond MaxListedSets sets).
type runIndex struct {
	Scenarios, Passed, Failed int
	Sets                      int
	ExpectHeld, ExpectTotal   int
	InvHeld, InvBroken        int
	Fleets                    string
	Wall                      time.Duration // the sum of the scenarios' wall times
	Started                   time.Time     // the earliest scenario's wall start
	Rows                      []indexRow
}

type indexRow struct {
	First    bool // the scenario's first row: it carries the scenario's cells
	Span     int  // rows of the scenario
	OK       bool
	Scenario string
	File     string
	Page     string // the scenario page's relative URL
	Set      string
	SetPage  string // the set's timeline on that page
	Status   string // with the set's error code; a region's: its sets by status
	Batches  int
	Expect   string // held/total of the set's and the scenario's expectations
	ExpectOK bool
	InvHeld  int
	InvBroke int
	Fleet    string
	Wall     string
	Error    string
}

func newRunIndex(results []*harness.Result) runIndex {
	var x runIndex
	fleets := map[string]bool{}
	for _, r := range results {
		x.Scenarios++
		if r.OK {
			x.Passed++
		} else {
			x.Failed++
		}
		fleets[r.Fleet] = true
		if d, err := time.ParseDuration(r.WallDuration); err == nil {
			x.Wall += d
		}
		if !r.WallStart.IsZero() && (x.Started.IsZero() || r.WallStart.Before(x.Started)) {
			x.Started = r.WallStart
		}
		for _, e := range r.Expectations {
			x.ExpectTotal++
			if e.OK {
				x.ExpectHeld++
			}
		}
		held, broken := 0, 0
		for _, inv := range r.Invariants {
			if inv.OK {
				held++
			} else {
				broken++
			}
		}
		x.InvHeld += held
		x.InvBroken += broken
		page := (&url.URL{Path: fileName(r.Scenario) + ".html"}).String()
		base := indexRow{OK: r.OK, Scenario: r.Scenario, File: r.File, Page: page, InvHeld: held, InvBroke: broken, Fleet: r.Fleet, Wall: wallRounded(r.WallDuration), Error: firstLine(r.Error)}
		rows := SummaryRows(r)
		if len(rows) == 0 {
			rows = []SetRow{{Set: "–", Status: "no scale set"}}
		}
		for i, s := range rows {
			row := base
			row.First, row.Span = i == 0, len(rows)
			row.Set = s.Set
			if s.Timeline != "" {
				row.SetPage = page + "#timeline-" + url.PathEscape(s.Timeline)
			}
			row.Status = s.Status
			row.Batches = s.Batches
			row.Expect, row.ExpectOK = fmt.Sprintf("%d/%d", s.ExpectHeld, s.ExpectTotal), !s.Failing
			x.Rows = append(x.Rows, row)
		}
		x.Sets += len(r.ScaleSets)
	}
	names := make([]string, 0, len(fleets))
	for f := range fleets {
		names = append(names, f)
	}
	slices.Sort(names)
	x.Fleets = strings.Join(names, ", ")
	return x
}

// verdict is the run's headline.
func (x runIndex) verdict() string {
	if x.Failed == 0 {
		return fmt.Sprintf("✓ %d passed", x.Passed)
	}
	return fmt.Sprintf("✗ %d failed, %d passed", x.Failed, x.Passed)
}

func (x runIndex) totals() string {
	s := fmt.Sprintf("%d scenarios, %d scale sets · expectations %d/%d held · invariants %d held, %d broken · fleet %s · wall %s (sum)",
		x.Scenarios, x.Sets, x.ExpectHeld, x.ExpectTotal, x.InvHeld, x.InvBroken, orDash(x.Fleets), roundWall(x.Wall))
	if !x.Started.IsZero() {
		s += " · started " + x.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return s
}

// WriteRunIndex writes the whole run's pages into dir, next to each
// scenario's NAME.html: index.html (totals, then one row per scenario and
// scale set, linking each scenario's page), summary.md (the same, for a CI
// job summary) and junit.xml (one testsuite per scenario file). results
// are the run's, in the order to list them.
func WriteRunIndex(dir string, results []*harness.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	x := newRunIndex(results)
	var md, h bytes.Buffer
	writeIndexMarkdown(&md, x)
	if err := os.WriteFile(filepath.Join(dir, IndexMarkdown), md.Bytes(), 0o644); err != nil {
		return err
	}
	if err := indexPage.Execute(&h, map[string]any{"X": x, "Verdict": x.verdict(), "Totals": x.totals()}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, IndexHTML), h.Bytes(), 0o644); err != nil {
		return err
	}
	return junit.WriteFile(filepath.Join(dir, IndexJUnit), junit.FromResults(IndexSuiteName, results))
}

func writeIndexMarkdown(w io.Writer, x runIndex) {
	fmt.Fprintf(w, "# osupgrade run — %s\n\n%s\n\n", x.verdict(), x.totals())
	fmt.Fprint(w, "| | scenario | fleet | scale set | status | batches | expectations held | invariants held / broken | wall | report |\n|---|---|---|---|---|---:|---:|---:|---:|---|\n")
	for _, r := range x.Rows {
		if r.First {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d | %s | %d / %d | %s | [%s](%s) |\n", mark(r.OK), cell(r.Scenario), r.Fleet, cell(r.Set), cell(r.Status), r.Batches, r.Expect, r.InvHeld, r.InvBroke, r.Wall, cell(r.Page), r.Page)
		} else {
			fmt.Fprintf(w, "| | | | %s | %s | %d | %s | | | [timeline](%s) |\n", cell(r.Set), cell(r.Status), r.Batches, r.Expect, r.SetPage)
		}
	}
	fmt.Fprintln(w)
	first := true
	for _, r := range x.Rows {
		if r.First && r.Error != "" {
			if first {
				fmt.Fprint(w, "## Errors\n\n")
				first = false
			}
			fmt.Fprintf(w, "- %s: %s\n", r.Scenario, r.Error)
		}
	}
	if !first {
		fmt.Fprintln(w)
	}
}

// wallRounded is a wall time to read: to the millisecond under a second,
// to the tenth of a second above.
func wallRounded(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return orDash(s)
	}
	return roundWall(d)
}

func roundWall(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Verdict}} — osupgrade run</title>
<style>` + pageCSS + `
table.index{width:100%;table-layout:auto}table.index td{vertical-align:top;white-space:nowrap}
table.index td.name{white-space:normal;overflow-wrap:anywhere}table.index td.n{text-align:right}
.file,.code{display:block;color:#666;font-size:.75rem}.code{white-space:normal;overflow-wrap:anywhere}
.totals{font-size:.95rem}tr.failed td.verdict{color:#b00020;font-weight:bold}tr.passed td.verdict{color:#006d2c}
td.bad{color:#b00020;font-weight:bold}
</style></head>
<body>
<h1>osupgrade run — {{.Verdict}}</h1>
<p class="totals">{{.Totals}}</p>
<table class="index">
<thead><tr><th></th><th>scenario</th><th>fleet</th><th>scale set</th><th>status</th><th>batches</th><th>expectations held</th><th>invariants held / broken</th><th>wall</th></tr></thead>
<tbody>
{{range .X.Rows}}<tr class="{{if .OK}}passed{{else}}failed{{end}}">{{if .First}}<td class="verdict" rowspan="{{.Span}}">{{if .OK}}✓{{else}}✗{{end}}</td><td class="name" rowspan="{{.Span}}"><a href="{{.Page}}">{{.Scenario}}</a>{{with .File}}<span class="file">{{.}}</span>{{end}}{{with .Error}}<span class="bad">error: {{.}}</span>{{end}}</td><td rowspan="{{.Span}}">{{.Fleet}}</td>{{end}}<td>{{if .SetPage}}<a href="{{.SetPage}}">{{.Set}}</a>{{else}}{{.Set}}{{end}}</td><td>{{.Status}}</td><td class="n">{{.Batches}}</td><td class="n{{if not .ExpectOK}} bad{{end}}">{{.Expect}}</td>{{if .First}}<td class="n{{if .InvBroke}} bad{{end}}" rowspan="{{.Span}}">{{.InvHeld}} / {{.InvBroke}}</td><td class="n" rowspan="{{.Span}}">{{.Wall}}</td>{{end}}</tr>
{{end}}</tbody></table>
<p class="file">JUnit: <a href="` + IndexJUnit + `">` + IndexJUnit + `</a> · Markdown: <a href="` + IndexMarkdown + `">` + IndexMarkdown + `</a></p>
</body></html>
`))
