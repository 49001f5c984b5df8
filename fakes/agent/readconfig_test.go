package agent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadConfigPrefersTheFileToTheEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		file    string // "" : no file
		env     string
		wantSet string
		wantErr string
	}{
		{name: "file only", file: `{"set":"from-file"}`, wantSet: "from-file"},
		{name: "env only", env: `{"set":"from-env"}`, wantSet: "from-env"},
		{name: "file over env", file: `{"set":"from-file"}`, env: `{"set":"from-env"}`, wantSet: "from-file"},
		{name: "neither", wantErr: "no such file"},
		{name: "bad env", env: `{"set":`, wantErr: ConfigEnv},
		{name: "bad file, good env", file: `{`, env: `{"set":"from-env"}`, wantErr: "agent.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.json")
			if tc.file != "" {
				if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var cfg Config
			err := ReadConfig(path, tc.env, &cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				if tc.name == "neither" && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("err = %v, want fs.ErrNotExist", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Set != tc.wantSet {
				t.Errorf("set = %q, want %q", cfg.Set, tc.wantSet)
			}
		})
	}
}
