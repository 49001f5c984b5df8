package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log the server and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func armError(t *testing.T, body []byte) errorDetail {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("not an ARM error body: %q", body)
	}
	return eb.Error
}

// createSet PUTs a valid scale set named name through the handler.
func createSet(t *testing.T, h http.Handler, name string, capacity int64) {
	t.Helper()
	b, err := json.Marshal(scaleSetBody(capacity))
	if err != nil {
		t.Fatal(err)
	}
	if rec := do(h, "PUT", fuzzBase+name, b); rec.Code != http.StatusCreated {
		t.Fatalf("create %s: %d %s", name, rec.Code, rec.Body.String())
	}
}

// TestPanicAnswersARM500: a handler's panic is ARM's 500 with the request
// id, over a connection that stays usable, and one log line with the stack.
func TestPanicAnswersARM500(t *testing.T) {
	log := &lockedBuffer{}
	e := newEnv(t, t.TempDir())
	e.srv.opts.Log = log
	e.srv.handler.mux.HandleFunc("GET /osupgrade/test-panic", func(http.ResponseWriter, *http.Request) {
		panic("planted handler bug")
	})
	for _, tc := range []struct {
		name        string
		requestID   string
		correlation string
	}{
		{"client sends no ids", "", ""},
		{"client sends both", "req-123", "corr-456"},
		{"client sends an id too long to echo", strings.Repeat("x", 200), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.ts.URL+"/osupgrade/test-panic", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			if tc.requestID != "" {
				req.Header["X-Ms-Request-Id"] = []string{tc.requestID}
			}
			if tc.correlation != "" {
				req.Header.Set("x-ms-correlation-request-id", tc.correlation)
			}
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatalf("the panic cut the connection: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500: %s", resp.StatusCode, body)
			}
			ed := armError(t, body)
			id := resp.Header.Get("x-ms-request-id")
			if ed.Code != "InternalServerError" || id == "" || !strings.Contains(ed.Message, id) {
				t.Fatalf("error %+v with request id %q: want InternalServerError naming the id", ed, id)
			}
			if echo := len(tc.requestID) <= 128; tc.requestID != "" && (id == tc.requestID) != echo {
				t.Fatalf("request id %q for the client's %q: want it echoed only when at most 128 characters", id, tc.requestID)
			}
			if got := resp.Header.Get("x-ms-correlation-request-id"); got != tc.correlation {
				t.Fatalf("correlation id %q, want %q echoed", got, tc.correlation)
			}
			var line string
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, id) {
					line = l
				}
			}
			if !strings.Contains(line, "planted handler bug") || !strings.Contains(line, "goroutine") {
				t.Fatalf("no log line with the panic and its stack for request %s:\n%s", id, log.String())
			}
		})
	}
	// The server still serves.
	if rec := do(e.srv.Handler(), "GET", fuzzBase+"none", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("after the panics: %d", rec.Code)
	}
}

// TestPagingArithmeticCannotOverflow: any skip token or journal position is
// a page (possibly empty) or a 400, never a panic or the whole journal.
func TestPagingArithmeticCannotOverflow(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	createSet(t, h, "web", 3)
	// A rollout, so that the decision journal is not empty.
	e.publish("18.04.202601010")
	if rec := do(h, "POST", fuzzBase+"web/osRollingUpgrade", nil); rec.Code != http.StatusAccepted {
		t.Fatalf("start the OS upgrade: %d %s", rec.Code, rec.Body.String())
	}
	vms := fuzzBase + "web/virtualMachines"
	for _, tc := range []struct {
		path    string
		status  int
		entries int // -1: not checked
	}{
		{vms + "?$skiptoken=9223372036854775807", 400, -1},
		{vms + "?$skiptoken=9223372036854775800", 400, -1},
		{vms + "?$skiptoken=4", 400, -1},
		{vms + "?$skiptoken=-1", 400, -1},
		{vms + "?$skiptoken=3", 200, 0},
		{vms + "?$skiptoken=1", 200, 2},
		{fuzzBase + "web/osUpgradeHistory?$skiptoken=9223372036854775807", 400, -1},
		{fuzzBase + "web/osUpgradeHistory?$skiptoken=1", 200, 0},
		{"/osupgrade/journal?after=18446744073709551615", 200, 0},
		{"/osupgrade/journal?after=18446744073709551615&limit=18446744073709551615", 200, 0},
		{"/osupgrade/fleet/journal?after=18446744073709551615", 200, 0},
		{"/osupgrade/journal?after=18446744073709551616", 400, -1},
	} {
		t.Run(tc.path, func(t *testing.T) {
			path, query, _ := strings.Cut(tc.path, "?")
			req, _ := http.NewRequest("GET", path+"?api-version=2024-11-01&"+query, nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			rec := httptest.NewRecorder()
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("panic: %v", v)
					}
				}()
				h.ServeHTTP(rec, req)
			}()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			if tc.status != 200 {
				armError(t, rec.Body.Bytes())
				return
			}
			var page struct {
				Value   []json.RawMessage
				Entries []json.RawMessage
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
			if n := len(page.Value) + len(page.Entries); n != tc.entries {
				t.Fatalf("%d entries, want %d: %s", n, tc.entries, rec.Body.String())
			}
		})
	}
}

// TestConcurrentChangesAndReadsDoNotRace: PUT, PATCH and list VMs at once.
// Without a copy of the stored document, `go test -race` flags renderVM's
// read of what apply writes.
func TestConcurrentChangesAndReadsDoNotRace(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	createSet(t, h, "web", 3)
	put, err := json.Marshal(scaleSetBody(3))
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	var wg sync.WaitGroup
	errs := make(chan string, 3*rounds)
	run := func(f func(i int) (int, string)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if code, body := f(i); code >= 300 {
					errs <- fmt.Sprintf("%d %s", code, body)
				}
			}
		}()
	}
	run(func(int) (int, string) {
		rec := do(h, "PUT", fuzzBase+"web", put)
		return rec.Code, rec.Body.String()
	})
	run(func(i int) (int, string) {
		body := fmt.Sprintf(`{"properties":{"virtualMachineProfile":{"osProfile":{"computerNamePrefix":"p%d"}}}}`, i)
		rec := do(h, "PATCH", fuzzBase+"web", []byte(body))
		return rec.Code, rec.Body.String()
	})
	run(func(int) (int, string) {
		rec := do(h, "GET", fuzzBase+"web/virtualMachines", nil)
		return rec.Code, rec.Body.String()
	})
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
