package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/internal/buildinfo"
)

func TestVersionCommand(t *testing.T) {
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if code := dispatch(ctx, []string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("osupgrade version: exit %d: %s", code, errOut.String())
	}
	want := buildinfo.Read()
	line := strings.TrimSpace(out.String())
	if line != want.String() || !strings.HasPrefix(line, "osupgrade ") || !strings.Contains(line, runtime.Version()) {
		t.Errorf("osupgrade version = %q, want %q with %s", line, want, runtime.Version())
	}

	out.Reset()
	if code := dispatch(ctx, []string{"version", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("osupgrade version --json: exit %d: %s", code, errOut.String())
	}
	var got buildinfo.Info
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("osupgrade version --json: %v\n%s", err, out.String())
	}
	if got != want || got.GoVersion != runtime.Version() || got.Version == "" {
		t.Errorf("osupgrade version --json = %+v, want %+v", got, want)
	}

	if code := dispatch(ctx, []string{"version", "extra"}, &out, &errOut); code != 2 {
		t.Errorf("osupgrade version extra: exit %d, want 2", code)
	}
}

// The agent is a subcommand, listed apart as internal.
func TestUsageListsAgentAsInternal(t *testing.T) {
	var out bytes.Buffer
	if code := dispatch(context.Background(), []string{"help"}, &out, &out); code != 0 {
		t.Fatalf("osupgrade help: exit %d", code)
	}
	main, internal, ok := strings.Cut(out.String(), "Internal commands:")
	if !ok {
		t.Fatalf("usage has no internal commands:\n%s", out.String())
	}
	if strings.Contains(main, "  agent ") || !strings.Contains(internal, "  agent ") {
		t.Errorf("agent should be listed under internal commands only:\n%s", out.String())
	}
	if !strings.Contains(main, "  version ") {
		t.Errorf("version is not listed:\n%s", out.String())
	}
	var errOut bytes.Buffer
	if code := dispatch(context.Background(), []string{"agent", "extra"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unexpected argument "extra"`) {
		t.Errorf("osupgrade agent extra: exit %d, %q; want 2 and the argument named", code, errOut.String())
	}
}
