package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestHTMLRendersInChromium loads the run and bench reports in headless
// Chromium, takes a screenshot of each and checks that the page parsed into
// SVG charts, logged no error and drew something.
func TestHTMLRendersInChromium(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	r, sc := sampleRun(t)
	if err := WriteRun(dir, r, sc); err != nil {
		t.Fatal(err)
	}
	if err := WriteBench(dir, sampleBench()); err != nil {
		t.Fatal(err)
	}
	for _, page := range []struct{ file, mustHave string }{
		{"report-sample.html", `class="batch"`},
		{BenchHTML, `id="ratios"`},
	} {
		t.Run(page.file, func(t *testing.T) {
			url := "file://" + filepath.Join(dir, page.file)
			dom, _ := runChromium(t, browser, dir, "--dump-dom", url)
			if !strings.Contains(dom, "<svg") || !strings.Contains(dom, page.mustHave) {
				t.Errorf("the DOM Chromium built lacks <svg or %s", page.mustHave)
			}
			shot := filepath.Join(dir, page.file+".png")
			runChromium(t, browser, dir, "--screenshot="+shot, "--window-size=1200,1600", url)
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
			if b.Dx() != 1200 || b.Dy() != 1600 {
				t.Errorf("screenshot is %v", b)
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
			if os.Getenv("OSUPGRADE_KEEP_SCREENSHOTS") != "" {
				keep := filepath.Join(os.Getenv("OSUPGRADE_KEEP_SCREENSHOTS"), page.file+".png")
				if b, err := os.ReadFile(shot); err == nil {
					_ = os.WriteFile(keep, b, 0o644)
				}
			}
		})
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
