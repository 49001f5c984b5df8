package api

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesDamagedState: `serve` on a damaged state.db stops with
// exit code 1 and the store's message, once, on stderr: the file, the mv
// that moves it aside; no stack trace, no empty start.
func TestServeRefusesDamagedState(t *testing.T) {
	cases := map[string][]byte{
		"empty":            nil,
		"not a bbolt file": bytes.Repeat([]byte("not a database\n"), 1000),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "state.db")
			if err := os.WriteFile(db, content, 0o600); err != nil {
				t.Fatal(err)
			}
			// Bounded: a server that starts instead of refusing stops here
			// and fails the exit code check.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := Serve(ctx, []string{"--data", dir, "--listen", "127.0.0.1:0", "--clock", "virtual"}, &stdout, &stderr)
			out := stderr.String()
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", code, out)
			}
			if n := strings.Count(out, "is damaged"); n != 1 {
				t.Errorf("stderr says %d times that the state is damaged, want once:\n%s", n, out)
			}
			for _, want := range []string{"serve: state database " + db + " is damaged", "mv " + db + " " + db + ".corrupt"} {
				if !strings.Contains(out, want) {
					t.Errorf("stderr lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") || strings.Contains(stdout.String(), "listening") {
				t.Errorf("want a refusal, got:\nstdout:\n%s\nstderr:\n%s", stdout.String(), out)
			}
			if got, _ := os.ReadFile(db); !bytes.Equal(got, content) {
				t.Error("serve changed the damaged state.db")
			}
		})
	}
}
