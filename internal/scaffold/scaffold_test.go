package scaffold

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/internal/workflowlint"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	d := Data{Module: "example.com/osupgrade", Version: "v1.2.3"}
	written, err := Write(dir, d, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.osupgrade.md", filepath.Join("features", "example.feature"), filepath.Join("scenarios", "example.yaml")}
	for _, w := range want {
		if !slices.Contains(written, filepath.Join(dir, w)) {
			t.Errorf("Write wrote %v, not %s", written, w)
		}
	}
	files, err := Files()
	if err != nil || len(files) != len(written) {
		t.Errorf("Files lists %v (%v), Write wrote %v", files, err, written)
	}
	// .tmpl files are rendered with Data and written without the suffix.
	readme, err := os.ReadFile(filepath.Join(dir, "README.osupgrade.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "go install example.com/osupgrade/cmd/osupgrade@v1.2.3") || strings.Contains(string(readme), "[%") {
		t.Errorf("README.osupgrade.md is not rendered with %+v:\n%s", d, readme)
	}

	// A second Write refuses, lists what exists and writes nothing.
	scenario := filepath.Join(dir, "scenarios", "example.yaml")
	if err := os.WriteFile(scenario, []byte("ours\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "README.osupgrade.md")); err != nil {
		t.Fatal(err)
	}
	written, err = Write(dir, d, false)
	var exists *ExistsError
	if !errors.Is(err, ErrExists) || !errors.As(err, &exists) || len(written) != 0 {
		t.Fatalf("second Write: wrote %v, err %v; want ErrExists and nothing written", written, err)
	}
	if !slices.Contains(exists.Paths, scenario) || len(exists.Paths) != len(files)-1 {
		t.Errorf("ExistsError lists %v, want every file but README.osupgrade.md", exists.Paths)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.osupgrade.md")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Write wrote README.osupgrade.md (%v)", err)
	}
	if b, _ := os.ReadFile(scenario); string(b) != "ours\n" {
		t.Errorf("a refused Write changed %s: %s", scenario, b)
	}

	// force overwrites.
	if _, err := Write(dir, d, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(scenario); string(b) == "ours\n" {
		t.Errorf("Write with force left %s as it was", scenario)
	}
}

// The CI workflows init writes are there, rendered, and pass actionlint.
func TestWorkflowsLintClean(t *testing.T) {
	dir := t.TempDir()
	d := Data{Module: "example.com/osupgrade", Version: "v1.2.3"}
	if _, err := Write(dir, d, false); err != nil {
		t.Fatal(err)
	}
	workflows := []string{
		filepath.Join(".github", "workflows", "osupgrade.yml"),
		filepath.Join(".github", "workflows", "osupgrade-nightly.yml"),
	}
	for _, w := range workflows {
		b, err := os.ReadFile(filepath.Join(dir, w))
		if err != nil {
			t.Fatalf("init wrote no %s: %v", w, err)
		}
		if !strings.Contains(string(b), "go install example.com/osupgrade/cmd/osupgrade@v1.2.3") || strings.Contains(string(b), "[%") {
			t.Errorf("%s is not rendered with %+v:\n%s", w, d, b)
		}
	}
	if err := workflowlint.Lint(context.Background(), dir, workflows...); err != nil {
		t.Error(err)
	}
}
