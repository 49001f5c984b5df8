package scaffold

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
	if !slices.Contains(exists.Paths, scenario) || len(exists.Paths) != 2 {
		t.Errorf("ExistsError lists %v, want the feature and the scenario", exists.Paths)
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
