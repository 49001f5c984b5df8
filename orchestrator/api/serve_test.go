package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeResolver resolves the names of a table, without the network.
func fakeResolver(names map[string][]string) func(context.Context, string) ([]net.IP, error) {
	return func(_ context.Context, host string) ([]net.IP, error) {
		addrs, ok := names[host]
		if !ok {
			return nil, fmt.Errorf("lookup %s: no such host", host)
		}
		var ips []net.IP
		for _, a := range addrs {
			ips = append(ips, net.ParseIP(a))
		}
		return ips, nil
	}
}

var testNames = map[string][]string{
	"localhost":          {"127.0.0.1", "::1"},
	"elsewhere.example":  {"192.0.2.7"},
	"half-local.example": {"127.0.0.1", "192.0.2.8"},
}

// TestServeFlagsCheckedBeforeWriting: every bad flag is refused (exit 2)
// before anything is written: the data directory does not come to exist.
func TestServeFlagsCheckedBeforeWriting(t *testing.T) {
	parent := t.TempDir()
	strong := filepath.Join(parent, "strong")
	short := filepath.Join(parent, "short")
	readable := filepath.Join(parent, "readable")
	for path, tok := range map[string]string{strong: strings.Repeat("s", 40), short: "x", readable: strings.Repeat("r", 40)} {
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(readable, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"listen without a port", []string{"--listen", "127.0.0.1"}, "--listen"},
		{"listen with a bad port", []string{"--listen", "127.0.0.1:99999"}, "port"},
		{"every IPv4 interface", []string{"--listen", "0.0.0.0:0"}, "--allow-remote"},
		{"every IPv6 interface", []string{"--listen", "[::]:0"}, "--allow-remote"},
		{"every interface, no host", []string{"--listen", ":0"}, "--allow-remote"},
		{"a non-loopback address", []string{"--listen", "192.0.2.1:0"}, "--allow-remote"},
		{"a short token", []string{"--token-file", short}, "shorter than 32"},
		{"a token others can read", []string{"--token-file", readable}, "group or others"},
		{"a token file that is not there", []string{"--token-file", filepath.Join(parent, "none")}, "--token-file"},
		{"a zero time scale", []string{"--time-scale", "0"}, "--time-scale"},
		{"a NaN time scale", []string{"--time-scale", "NaN"}, "--time-scale"},
		{"an unknown fleet", []string{"--fleet", "cloud"}, `--fleet "cloud": unknown fleet "cloud": registered: `},
		{"an unknown clock", []string{"--clock", "sundial"}, "--clock"},
		{"a certificate without its key", []string{"--tls-cert", strong}, "--tls-key"},
		{"a certificate that is not there", []string{"--tls-cert", filepath.Join(parent, "none.crt"), "--tls-key", strong}, "TLS file"},
		{"an argument", []string{"extra"}, "unexpected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"--data", data, "--listen", "127.0.0.1:0", "--token-file", strong, "--clock", "virtual"}, tc.args...)
			// A bound on the run: a flag not refused would serve until it ends.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := Serve(ctx, args, &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q: want 2 and a message about %s", code, stderr.String(), tc.want)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				entries, _ := os.ReadDir(data)
				t.Errorf("the refused flag left the data directory behind (%v): %v", err, entries)
			}
		})
	}
}

// TestServeFlagsRemoteAndWeakToken: --allow-remote and --allow-weak-token
// accept what is otherwise refused, each with a warning that names the
// token file; a host name is loopback only if all its addresses are.
func TestServeFlagsRemoteAndWeakToken(t *testing.T) {
	parent := t.TempDir()
	weak := filepath.Join(parent, "weak")
	if err := os.WriteFile(weak, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	strong := filepath.Join(parent, "strong")
	if err := os.WriteFile(strong, []byte(strings.Repeat("s", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(parent, "data")
	for _, tc := range []struct {
		args     []string
		ok       bool
		warnings int
	}{
		{[]string{"--listen", "127.0.0.1:8443"}, true, 0},
		{[]string{"--listen", "[::1]:8443"}, true, 0},
		{[]string{"--listen", "localhost:8443"}, true, 0},
		{[]string{"--listen", "elsewhere.example:8443"}, false, 0},
		{[]string{"--listen", "half-local.example:8443"}, false, 0},
		{[]string{"--listen", "unknown.example:8443"}, false, 0},
		{[]string{"--listen", "elsewhere.example:8443", "--allow-remote"}, true, 1},
		{[]string{"--listen", "0.0.0.0:8443", "--allow-remote"}, true, 1},
		{[]string{"--listen", "[::]:8443", "--allow-remote"}, true, 1},
		{[]string{"--token-file", weak}, false, 0},
		{[]string{"--token-file", weak, "--allow-weak-token"}, true, 1},
		{[]string{"--token-file", weak, "--allow-weak-token", "--listen", "0.0.0.0:1", "--allow-remote"}, true, 2},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"--data", data, "--token-file", strong}, tc.args...)
			var stderr bytes.Buffer
			c, code, ok := parseServeFlags(context.Background(), args, &stderr, fakeResolver(testNames))
			if ok != tc.ok || (!ok && code != 2) {
				t.Fatalf("ok %v exit %d (%s), want ok %v", ok, code, stderr.String(), tc.ok)
			}
			if len(c.warnings) != tc.warnings {
				t.Fatalf("warnings %q, want %d", c.warnings, tc.warnings)
			}
			for _, w := range c.warnings {
				if strings.Contains(w, "shorter") != strings.Contains(w, "group or others") {
					t.Fatalf("warning %q names one of the weak token's two problems", w)
				}
				if !strings.Contains(w, c.tokenFile) {
					t.Fatalf("warning %q does not name the token file %s", w, c.tokenFile)
				}
			}
		})
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checking flags wrote the data directory: %v", err)
	}
}

// TestServeTimeouts: through Serve itself, an idle keep-alive connection
// and a body sent too slowly are cut off by the server (with the
// timeouts made short for the test; the defaults are minutes).
func TestServeTimeouts(t *testing.T) {
	old := serveTimeouts
	serveTimeouts = httpTimeouts{ReadHeader: 300 * time.Millisecond, Read: 600 * time.Millisecond, Write: 2 * time.Second, Idle: 300 * time.Millisecond}
	t.Cleanup(func() { serveTimeouts = old })
	parent := t.TempDir()
	tokenFile := filepath.Join(parent, "token")
	const token = "weak"
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, stderr := serveInProcess(t, filepath.Join(parent, "data"), "--token-file", tokenFile, "--allow-weak-token")
	if w := stderr.String(); !strings.Contains(w, "warning") || !strings.Contains(w, tokenFile) {
		t.Fatalf("no warning naming the weak token's file: %q", w)
	}
	dial := func() *tls.Conn {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedByServer waits (a generous bound, far above the timeouts) for
	// the server to end the connection.
	closedByServer := func(c *tls.Conn, what string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the server held the connection for 20 s", what)
		}
	}

	// An idle keep-alive connection after one request.
	c := dial()
	fmt.Fprintf(c, "GET /osupgrade/clock HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", token)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /osupgrade/clock: %s (close %v)", resp.Status, resp.Close)
	}
	closedByServer(c, "idle keep-alive")

	// A body promised and never sent.
	c = dial()
	fmt.Fprintf(c, "POST /osupgrade/clock HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{", token)
	closedByServer(c, "slow body")

	// Headers never finished.
	c = dial()
	fmt.Fprintf(c, "GET /osupgrade/clock HTTP/1.1\r\nHost: x\r\n")
	closedByServer(c, "slow headers")
}
