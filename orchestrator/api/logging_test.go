package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// serveInProcess runs Serve with --data data, args and a virtual clock,
// and returns its address (HOST:PORT) and stderr; it stops with the test.
func serveInProcess(t *testing.T, data string, args ...string) (addr string, stderr *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr = &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Serve(ctx, append([]string{"--data", data, "--listen", "127.0.0.1:0", "--clock", "virtual"}, args...), pw, stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "listening on https://"); ok {
			addr, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatalf("serve did not listen: %s", stderr.String())
	}
	return addr, stderr
}

// serveWithToken is serveInProcess with the token it generated.
func serveWithToken(t *testing.T, args ...string) (url, token string, stderr *lockedBuffer) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	addr, stderr := serveInProcess(t, data, args...)
	tok, _, err := TokenFromFile(filepath.Join(data, "token"), false)
	if err != nil {
		t.Fatal(err)
	}
	return "https://" + addr, tok, stderr
}

// getWithIDs requests path from serve with the token and the given ARM ids.
func getWithIDs(t *testing.T, url, token, path, clientRequestID, correlationID string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("x-ms-client-request-id", clientRequestID)
	req.Header.Set("x-ms-correlation-request-id", correlationID)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseIdleConnections() })
	return resp
}

// serve --log-format json: one JSON access record per request with ARM's
// ids (the client's, returned in x-ms-request-id); --log-level warn keeps
// it out.
func TestServeAccessLog(t *testing.T) {
	url, token, stderr := serveWithToken(t, "--log-format", "json")
	resp := getWithIDs(t, url, token, "/osupgrade/clock", "client-req-1", "corr-1")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("x-ms-request-id") != "client-req-1" || resp.Header.Get("x-ms-correlation-request-id") != "corr-1" {
		t.Fatalf("%s, x-ms-request-id %q, x-ms-correlation-request-id %q: want 200 returning the client's ids", resp.Status, resp.Header.Get("x-ms-request-id"), resp.Header.Get("x-ms-correlation-request-id"))
	}
	var records []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q: %v", line, err)
		}
		if rec["msg"] == "request" {
			records = append(records, rec)
		}
	}
	if len(records) != 1 {
		t.Fatalf("%d access records, want 1:\n%s", len(records), stderr.String())
	}
	rec := records[0]
	for k, want := range map[string]any{"level": "INFO", "method": "GET", "path": "/osupgrade/clock", "status": 200.0, "bytes": float64(len(body)),
		"x-ms-request-id": "client-req-1", "x-ms-correlation-request-id": "corr-1"} {
		if rec[k] != want {
			t.Errorf("%s is %#v, want %#v in %v", k, rec[k], want, rec)
		}
	}
	if d, ok := rec["duration"].(float64); !ok || d <= 0 {
		t.Errorf("duration %#v, want nanoseconds more than 0", rec["duration"])
	}

	url, token, stderr = serveWithToken(t, "--log-format", "json", "-log-level", "warn")
	resp = getWithIDs(t, url, token, "/osupgrade/clock", "client-req-2", "corr-2")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	if strings.Contains(stderr.String(), `"msg":"request"`) {
		t.Fatalf("--log-level warn logged the request:\n%s", stderr.String())
	}
}

// Bad --log-level or --log-format: exit 2 naming the flag, before anything
// is written.
func TestServeRefusesBadLogFlags(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--log-level verbose", `--log-level "verbose": want debug, info, warn or error`},
		{"--log-format xml", `--log-format "xml": want text or json`},
	} {
		var stderr bytes.Buffer
		data := filepath.Join(t.TempDir(), "data")
		code := Serve(context.Background(), append([]string{"--data", data}, strings.Fields(tc.args)...), io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("serve %s: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
