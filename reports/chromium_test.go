package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/bench"
	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/harness/scenario"
)

// chromiumInstall is how CI gets the browser (Debian package chromium).
const chromiumInstall = "apt-get install -y --no-install-recommends chromium"

// chromium finds a headless-capable Chromium; absent locally the test
// skips, under CI it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but Chromium is not installed; install it with: %s", chromiumInstall)
	}
	t.Skipf("Chromium is not installed (install it with: %s); set CI=true to make its absence a failure", chromiumInstall)
	return ""
}

// realisticPages renders every kind of page from realistic data into dir:
// the sample scenario page (two zones, faults, a rollback), shipped
// scenarios with several scale sets, zone faults, and faults close
// together (their labels stack), the run's index
// of them all (with a failing and a broken scenario), and the benchmark
// page of the committed baseline (sim up to 10^6 instances, Docker 50 to
// 200). It returns the pages with a fragment each must hold (its SVG's, or
// the index's link).
func realisticPages(t *testing.T, dir string) []struct{ file, mustHave string } {
	t.Helper()
	results := sampleRunResults(t)
	r, sc := sampleRun(t)
	if err := WriteRun(dir, r, sc); err != nil {
		t.Fatal(err)
	}
	pages := []struct{ file, mustHave string }{{"report-sample.html", `class="batch"`}}
	for _, name := range []string{"regional-phases-complete", "chaos-zone-down", "chaos-lie", "chaos-engine-error"} {
		sc, err := scenario.Load(filepath.Join("..", "scenarios", name+".yaml"), harness.Vocabulary())
		if err != nil {
			t.Fatal(err)
		}
		r, err := harness.Run(context.Background(), sc, harness.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteRun(dir, r, sc); err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
		pages = append(pages, struct{ file, mustHave string }{name + ".html", `class="batch"`})
	}
	if err := WriteRunIndex(dir, results); err != nil {
		t.Fatal(err)
	}
	b, err := bench.LoadReport(filepath.Join("..", "bench", "baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteBench(dir, b); err != nil {
		t.Fatal(err)
	}
	return append(pages,
		struct{ file, mustHave string }{IndexHTML, `href="report-sample.html"`},
		struct{ file, mustHave string }{BenchHTML, `id="ratios"`})
}

// TestHTMLRendersInChromium loads every kind of report page, rendered from
// realistic data, in headless Chromium: the page must parse into its SVG
// charts, log no error, and lay out without overflow — no box whose
// content is wider than itself, no page wider than the window, no chart
// text outside its chart or over another text (testdata/layout-check.js)
// — and its screenshot must show something. OSUPGRADE_KEEP_SCREENSHOTS=DIR
// keeps full-page screenshots to look at.
func TestHTMLRendersInChromium(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	for _, page := range realisticPages(t, dir) {
		t.Run(page.file, func(t *testing.T) {
			problems, height, dom := layoutProblems(t, browser, dir, page.file, 1200)
			if !strings.Contains(dom, page.mustHave) {
				t.Errorf("the DOM Chromium built lacks %s", page.mustHave)
			}
			for _, p := range problems {
				t.Errorf("layout: %s", p)
			}
			screenshot(t, browser, dir, page.file, 1200, min(max(height, 600), 8000))
		})
	}
}

// The layout check finds what it is there to find: a table wider than its
// box, a text past its chart's edge, two texts over each other.
func TestLayoutCheckFindsOverflow(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	page := `<!DOCTYPE html><html><head><meta charset="utf-8"><style>div{width:300px}</style></head><body>
<div><table><tr><td style="white-space:nowrap">` + strings.Repeat("wide ", 80) + `</td></tr></table></div>
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60" viewBox="0 0 200 60" font-family="sans-serif">
<text x="150" y="20">1e+06 cut off here</text><text x="10" y="40">one</text><text x="14" y="42">two</text></svg>
</body></html>`
	if err := os.WriteFile(filepath.Join(dir, "bad.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	problems, _, _ := layoutProblems(t, browser, dir, "bad.html", 1200)
	all := strings.Join(problems, "\n")
	for _, want := range []string{"overflow: div", `text "1e+06 cut off here"`, `is outside the 200×60 chart`, `text "two" overlaps "one"`} {
		if !strings.Contains(all, want) {
			t.Errorf("the check missed %q; it found:\n%s", want, all)
		}
	}
}

var problemsPre = regexp.MustCompile(`<pre id="layout-problems" data-height="(\d+)">([^<]*)</pre>`)

// layoutProblems loads a copy of page with the layout check appended, at
// the given window width, and returns what the check found, the page's
// height and the DOM.
func layoutProblems(t *testing.T, browser, dir, page string, width int) (problems []string, height int, dom string) {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("testdata", "layout-check.js"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(dir, page))
	if err != nil {
		t.Fatal(err)
	}
	checked := filepath.Join(dir, "checked-"+page)
	body = append(body, []byte("\n<script>\n"+string(script)+"\n</script>\n")...)
	if err := os.WriteFile(checked, body, 0o644); err != nil {
		t.Fatal(err)
	}
	dom, _ = runChromium(t, browser, dir, "--window-size="+strconv.Itoa(width)+",1000", "--virtual-time-budget=10000", "--dump-dom", "file://"+checked)
	m := problemsPre.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the layout check did not run in %s", page)
	}
	height, _ = strconv.Atoi(m[1])
	if err := json.Unmarshal([]byte(html.UnescapeString(m[2])), &problems); err != nil {
		t.Fatalf("the layout check's report: %v: %s", err, m[2])
	}
	return problems, height, dom
}

// screenshot takes a w×h screenshot of page, checks it drew something and
// keeps it under OSUPGRADE_KEEP_SCREENSHOTS.
func screenshot(t *testing.T, browser, dir, page string, w, h int) {
	t.Helper()
	shot := filepath.Join(dir, page+".png")
	runChromium(t, browser, dir, "--screenshot="+shot, "--window-size="+strconv.Itoa(w)+","+strconv.Itoa(h), "--virtual-time-budget=10000", "file://"+filepath.Join(dir, page))
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		t.Errorf("screenshot is %v, want %d×%d", b, w, h)
	}
	inked := 0
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			if r, g, bl, _ := img.At(x, y).RGBA(); r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				inked++
			}
		}
	}
	if inked < 500 {
		t.Errorf("the screenshot is nearly blank (%d inked samples)", inked)
	}
	if keep := os.Getenv("OSUPGRADE_KEEP_SCREENSHOTS"); keep != "" {
		if b, err := os.ReadFile(shot); err == nil {
			_ = os.WriteFile(filepath.Join(keep, page+".png"), b, 0o644)
		}
	}
}

// runChromium runs one headless Chromium command and fails the test on a
// non-zero exit or a page error in its log. The context is a hang guard
// for a browser that never exits, not a timing check.
func runChromium(t *testing.T, browser, dir string, args ...string) (stdout, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--no-first-run", "--user-data-dir=" + filepath.Join(dir, "chromium-profile"), "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", browser, strings.Join(args, " "), err, errb.String())
	}
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.Contains(l, "Uncaught") || (strings.Contains(l, "CONSOLE") && strings.Contains(strings.ToLower(l), "error")) {
			t.Errorf("page error: %s", l)
		}
	}
	return out.String(), errb.String()
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
