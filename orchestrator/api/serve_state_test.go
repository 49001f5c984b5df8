package api

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/boltstore"
)

// TestServeRefusesDamagedState: `serve` on a damaged state.db stops with
// exit code 1 and the store's message, once, on stderr: the file, the mv
// that moves it aside; no stack trace, no empty start, nothing written into
// the data directory.
func TestServeRefusesDamagedState(t *testing.T) {
	cases := map[string][]byte{
		"empty":               nil,
		"not a bbolt file":    bytes.Repeat([]byte("not a database\n"), 1000),
		"a document not JSON": undecodableDoc(t),
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
			// Refused before anything was written beside it: no token,
			// certificate or identity left for a start that never was.
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the data directory holds %v, want state.db alone", names)
			}
		})
	}
}

// undecodableDoc is a state.db whole to bbolt and to the store, with a
// scale set document that does not decode.
func undecodableDoc(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := boltstore.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutResource(context.Background(), kindARM, "web", []byte("{\"uniqueId\":\x00")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
