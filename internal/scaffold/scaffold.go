// Package scaffold writes the files `osupgrade init` gives a user's
// repository: every file under template/, at the same relative path.
//
// To ship another file (a CI workflow, say), drop it into template/: the
// directory is embedded whole, dot-directories such as .github included.
// A file whose name ends in .tmpl is a text/template, written without the
// suffix; its actions use [% %] delimiters (not {{ }}, which GitHub
// expressions ${{ }} and shell scripts use) and see Data. Other files are
// copied as they are.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

//go:embed all:template
var templates embed.FS

// Data is what .tmpl files see.
type Data struct {
	// Module is osupgrade's module path (go install Module/cmd/osupgrade@Version).
	Module string
	// Version is the osupgrade version to install: the running binary's, or "latest".
	Version string
}

// ErrExists is returned when files to write exist already and force is off.
var ErrExists = errors.New("files exist")

// ExistsError lists the files that exist already; nothing was written.
type ExistsError struct {
	Paths []string
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s, nothing written (--force overwrites them):\n  %s", ErrExists, strings.Join(e.Paths, "\n  "))
}

func (e *ExistsError) Unwrap() error { return ErrExists }

// file is one rendered file, its path relative to the target directory.
type file struct {
	rel  string
	body []byte
}

// render reads and renders every template file, sorted by path.
func render(d Data) ([]file, error) {
	var out []file
	err := fs.WalkDir(templates, "template", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "template/")
		if name, ok := strings.CutSuffix(rel, ".tmpl"); ok {
			t, err := template.New(path.Base(p)).Delims("[%", "%]").Option("missingkey=error").Parse(string(body))
			if err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			var b bytes.Buffer
			if err := t.Execute(&b, d); err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			rel, body = name, b.Bytes()
		}
		out = append(out, file{rel: rel, body: body})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, err
}

// Files lists the paths Write writes, relative to its directory, sorted.
func Files() ([]string, error) {
	rendered, err := render(Data{})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rendered))
	for i, f := range rendered {
		out[i] = filepath.FromSlash(f.rel)
	}
	return out, nil
}

// Write writes every file into dir and returns their paths. When some
// exist already and force is off, it writes nothing and returns an
// *ExistsError listing them.
func Write(dir string, d Data, force bool) ([]string, error) {
	files, err := render(d)
	if err != nil {
		return nil, err
	}
	var exist []string
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.rel))
		switch _, err := os.Lstat(p); {
		case err == nil:
			exist = append(exist, p)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	if len(exist) > 0 && !force {
		return nil, &ExistsError{Paths: exist}
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(p, f.body, 0o644); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}
