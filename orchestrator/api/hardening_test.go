package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
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

// doQuery is do for a path that may carry a query of its own.
func doQuery(h http.Handler, method, pathQuery string) *httptest.ResponseRecorder {
	path, query, _ := strings.Cut(pathQuery, "?")
	req := httptest.NewRequest(method, path+"?api-version=2024-11-01&"+query, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
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
			if got := resp.Header.Get("x-ms-correlation-request-id"); got == "" || (tc.correlation != "" && got != tc.correlation) {
				t.Fatalf("correlation id %q, want %q echoed, or a generated one", got, tc.correlation)
			}
			var line string
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, id) && strings.Contains(l, "msg=panic") {
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

// TestPanicUnderTheLockReleasesIt: a handler that panics while it holds
// the handler's lock (PATCH cloning a stored document that does not encode)
// is answered with a 500 and leaves the lock free, so later changes are not
// stuck behind it.
func TestPanicUnderTheLockReleasesIt(t *testing.T) {
	s := openCrashServer(t, t.TempDir())
	call(t, s, "PUT", setPath(""), scaleSetBody(2), http.StatusOK, http.StatusCreated)
	h := s.handler
	h.mu.Lock()
	m := *h.metas[crashSet]
	m.Doc = cloneDoc(m.Doc)
	m.Doc.Properties.VirtualMachineProfile.StorageProfile.DataDisks = []json.RawMessage{json.RawMessage("{")}
	h.metas[crashSet] = &m
	h.mu.Unlock()
	if rec := do(s.Handler(), "PATCH", setPath(""), []byte(`{"tags":{"a":"b"}}`)); rec.Code != http.StatusInternalServerError {
		t.Fatalf("PATCH over a document that does not encode: %d %s, want the recovered panic's 500", rec.Code, rec.Body.String())
	}
	if !h.mu.TryLock() {
		t.Fatal("the panic left the handler's lock held")
	}
	h.mu.Unlock()
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
			var rec *httptest.ResponseRecorder
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("panic: %v", v)
					}
				}()
				rec = doQuery(h, "GET", tc.path)
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

// opStatus reads the operation an Azure-AsyncOperation URL names.
func opStatus(t *testing.T, h http.Handler, asyncURL string) operationStatus {
	t.Helper()
	u, err := url.Parse(asyncURL)
	if err != nil || u.Path == "" {
		t.Fatalf("Azure-AsyncOperation %q: %v", asyncURL, err)
	}
	rec := do(h, "GET", u.Path, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u.Path, rec.Code, rec.Body.String())
	}
	var st operationStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestOperationOutlivesItsSet: an operation's status belongs to the
// operation: a finished OS upgrade reads Succeeded after its set is
// deleted and after a set of the same name is created, whose own operation
// has another id.
func TestOperationOutlivesItsSet(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	createSet(t, h, "web", 3)
	e.publish("18.04.202601010")
	start := func() string {
		rec := do(h, "POST", fuzzBase+"web/osRollingUpgrade", nil)
		if rec.Code != http.StatusAccepted || rec.Header().Get("Azure-AsyncOperation") == "" {
			t.Fatalf("start the OS upgrade: %d %s", rec.Code, rec.Body.String())
		}
		return rec.Header().Get("Azure-AsyncOperation")
	}
	op := start()
	for i := 0; opStatus(t, h, op).Status == statusInProgress; i++ {
		if i > 200 {
			t.Fatal("the OS upgrade did not finish in 200 clock steps")
		}
		e.advance(time.Minute)
	}
	want := opStatus(t, h, op)
	if want.Status != statusSucceeded || want.EndTime == nil {
		t.Fatalf("finished OS upgrade reads %+v, want Succeeded", want)
	}
	check := func(when string) {
		t.Helper()
		got := opStatus(t, h, op)
		if got.Status != want.Status || got.Error != nil || got.EndTime == nil || !got.EndTime.Equal(*want.EndTime) {
			t.Fatalf("%s: the operation reads %+v, want %+v", when, got, want)
		}
	}
	if rec := do(h, "DELETE", fuzzBase+"web", nil); rec.Code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body.String())
	}
	check("after the set's deletion")
	createSet(t, h, "web", 3)
	check("after a set of the same name was created")
	e.publish("18.04.202602010")
	if again := start(); again == op {
		t.Fatalf("the new set's OS upgrade has the old operation's URL %s", op)
	}
	check("after the new set's OS upgrade started")
	// And across a restart.
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, e.srv.opts.DataDir)
	h = e2.srv.Handler()
	check("after a restart")
}

// TestJournalPagedByDefault: without a limit a journal answers a page of
// the default size and a nextLink; following the links gives every entry
// once, in order; a limit is honoured, one above the maximum is cut to it.
func TestJournalPagedByDefault(t *testing.T) {
	e := newEnv(t, t.TempDir())
	e.srv.opts.JournalPageSize = 2
	h := e.srv.Handler()
	const sets = 5 // one "create" each in the fleet journal
	for i := range sets {
		createSet(t, h, fmt.Sprintf("s%d", i), 1)
	}
	type page struct {
		Entries  []FleetLogEntry
		NextLink string
	}
	get := func(path string) page {
		t.Helper()
		rec := doQuery(h, "GET", path)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
		var p page
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	follow := func(path string) (pages, entries int) {
		t.Helper()
		var last uint64
		for path != "" {
			p := get(path)
			pages++
			for _, e := range p.Entries {
				if e.Seq <= last {
					t.Fatalf("entry %d after %d: pages overlap or go back", e.Seq, last)
				}
				last = e.Seq
			}
			entries += len(p.Entries)
			path = ""
			if p.NextLink != "" {
				u, err := url.Parse(p.NextLink)
				if err != nil {
					t.Fatal(err)
				}
				path = u.Path + "?" + u.RawQuery
			}
		}
		return pages, entries
	}
	for _, tc := range []struct {
		query          string
		pages, entries int
	}{
		{"", 3, sets},
		{"?limit=0", 3, sets},
		{"?limit=4", 2, sets},
		{"?limit=5", 1, sets},
		{"?limit=999999999", 1, sets},
		{"?after=3", 1, 2},
	} {
		for _, path := range []string{"/osupgrade/fleet/journal", "/osupgrade/journal"} {
			want := tc
			if path == "/osupgrade/journal" {
				want.pages, want.entries = 1, 0 // no rollout: no decision
			}
			if pages, entries := follow(path + tc.query); pages != want.pages || entries != want.entries {
				t.Errorf("%s%s: %d pages, %d entries; want %d, %d", path, tc.query, pages, entries, want.pages, want.entries)
			}
		}
	}
}

// TestNamesFollowARMRules: scale set and resource group names in a path are
// checked against ARM's rules: a bad one is ARM's 400 naming it and the
// rule (never a 500, never a resource), a good one works.
func TestNamesFollowARMRules(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	body := validBody(t)
	rgBase := func(rg string) string {
		return "/subscriptions/" + testSub + "/resourceGroups/" + url.PathEscape(rg) + "/providers/Microsoft.Compute/virtualMachineScaleSets/"
	}
	for _, tc := range []struct {
		rg, name string
		code     string // "": created
	}{
		{testRG, "web", ""},
		{testRG, "a", ""},
		{testRG, "A.b-c_d", ""},
		{testRG, "ends_", ""},
		{testRG, strings.Repeat("n", 64), ""},
		{testRG, "../../etc", "InvalidResourceName"},
		{testRG, "a/b", "InvalidResourceName"},
		{testRG, "a\x00b", "InvalidResourceName"},
		{testRG, "a\nb", "InvalidResourceName"},
		{testRG, "a b", "InvalidResourceName"},
		{testRG, "ü", "InvalidResourceName"},
		{testRG, "a\xffb", "InvalidResourceName"},
		{testRG, strings.Repeat("n", 65), "InvalidResourceName"},
		{testRG, strings.Repeat("n", 10_000), "InvalidResourceName"},
		{testRG, strings.Repeat("n", 40_000), "InvalidResourceName"},
		{testRG, "web.", "InvalidResourceName"},
		{testRG, "web-", "InvalidResourceName"},
		{testRG, "-web", "InvalidResourceName"},
		{testRG, "_web", "InvalidResourceName"},
		{testRG, ".web", "InvalidResourceName"},
		{"rg(1).x_y-z", "set-in-rg1", ""},
		{"grüne-gruppe", "set-in-rg2", ""},
		{strings.Repeat("g", 90), "set-in-rg3", ""},
		{"rg.", "web2", "InvalidResourceGroup"},
		{"a/b", "web2", "InvalidResourceGroup"},
		{"../../etc", "web2", "InvalidResourceGroup"},
		{"rg\x00", "web2", "InvalidResourceGroup"},
		{"rg\n", "web2", "InvalidResourceGroup"},
		{strings.Repeat("g", 91), "web2", "InvalidResourceGroup"},
		{strings.Repeat("g", 40_000), "web2", "InvalidResourceGroup"},
	} {
		label := tc.rg + "/" + tc.name
		if len(label) > 60 {
			label = fmt.Sprintf("%.30s...(%d)", label, len(label))
		}
		t.Run(label, func(t *testing.T) {
			path := rgBase(tc.rg) + url.PathEscape(tc.name)
			for _, req := range []struct {
				method, path string
				body         []byte
			}{{"PUT", path, body}, {"GET", path, nil}, {"GET", path + "/virtualMachines", nil}, {"POST", path + "/osRollingUpgrade", nil}, {"DELETE", path, nil}} {
				if tc.code == "" && req.method == "POST" {
					continue // a rollout in progress would hold the deletion back
				}
				rec := do(h, req.method, req.path, req.body)
				if tc.code == "" {
					if want := map[string]int{"PUT": 201, "GET": 200, "DELETE": 202}[req.method]; rec.Code != want {
						t.Fatalf("%s: %d, want %d: %.300s", req.method, rec.Code, want, rec.Body.String())
					}
					continue
				}
				if rec.Code != http.StatusBadRequest {
					t.Fatalf("%s: %d, want 400 %s: %.300s", req.method, rec.Code, tc.code, rec.Body.String())
				}
				ed := armError(t, rec.Body.Bytes())
				rule := "64 characters"
				bad := tc.name
				if tc.code == "InvalidResourceGroup" {
					rule, bad = "90 characters", tc.rg
				}
				if ed.Code != tc.code || !strings.Contains(ed.Message, rule) || !strings.Contains(ed.Message, strings.Trim(quoteName(bad[:min(len(bad), 20)]), `"`)) || len(ed.Message) > 500 {
					t.Fatalf("%s: %+v, want %s naming the name (cut) and the rule", req.method, ed, tc.code)
				}
			}
		})
	}
	// Gallery and image definition names: a 40,000-character one was a
	// state database key too large, a 500.
	galleryBody := []byte(`{"location":"eastus"}`)
	for _, tc := range []struct {
		gallery, image string
		status         int
	}{
		{"gal", "app", 201},
		{strings.Repeat("g", 40_000), "app", 400},
		{"gal", strings.Repeat("i", 40_000), 400},
		{"../etc", "app", 400},
		{"gal", "app\n", 400},
		{"gal-1", "app", 400},
		{"gal", "app-1", 201},
	} {
		path := "/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/galleries/" + url.PathEscape(tc.gallery) + "/images/" + url.PathEscape(tc.image) + "/versions/1.0.0"
		// Galleries have api-versions of their own (armcompute v6: 2024-03-03).
		if rec := (armCall{"PUT", path + "?api-version=2024-03-03", string(galleryBody), "application/json"}).do(h); rec.Code != tc.status {
			t.Errorf("gallery %.20q image %.20q: %d, want %d: %.300s", tc.gallery, tc.image, rec.Code, tc.status, rec.Body.String())
		} else if rec.Code == 400 && armError(t, rec.Body.Bytes()).Code != "InvalidResourceName" {
			t.Errorf("gallery %.20q image %.20q: %s, want InvalidResourceName", tc.gallery, tc.image, rec.Body.String())
		}
	}
	if rec := do(h, "GET", fuzzBase[:len(fuzzBase)-1], nil); !strings.Contains(rec.Body.String(), `"value":[]`) {
		t.Fatalf("sets left after the table: %.300s", rec.Body.String())
	}
}

// TestPauseTimeBounded: pauseTimeBetweenBatches is at most a day; a longer
// one is a 400 naming the property and the bound (P999999D overflowed
// into a negative duration).
func TestPauseTimeBounded(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	for i, tc := range []struct {
		pause string
		ok    bool
	}{
		{"PT0S", true},
		{"PT1M30S", true},
		{"P1D", true},
		{"PT24H", true},
		{"PT86400S", true},
		{"PT23H59M60S", true},
		{"P999999D", false},
		{"P106752D", false},
		{"P1DT1S", false},
		{"PT24H0.5S", false},
		{"PT86400.000000001S", false},
		{"PT999999H", false},
		{"PT999999999S", false},
		{"P1DT999999H999999M999999999.999999999S", false},
	} {
		doc := scaleSetBody(2)
		doc.Properties.UpgradePolicy.RollingUpgradePolicy = &armcompute.RollingUpgradePolicy{PauseTimeBetweenBatches: to.Ptr(tc.pause)}
		b, _ := json.Marshal(doc)
		name := fmt.Sprintf("p%d", i)
		rec := do(h, "PUT", fuzzBase+name, b)
		if tc.ok {
			if rec.Code != http.StatusCreated {
				t.Errorf("%s: %d %.300s, want 201", tc.pause, rec.Code, rec.Body.String())
			}
			continue
		}
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %.300s, want 400", tc.pause, rec.Code, rec.Body.String())
			continue
		}
		ed := armError(t, rec.Body.Bytes())
		if !strings.Contains(ed.Message, "pauseTimeBetweenBatches") || !strings.Contains(ed.Message, "PT24H") || strings.Contains(ed.Message, "-") {
			t.Errorf("%s: %q, want the property and the bound PT24H named, no negative duration", tc.pause, ed.Message)
		}
	}
}
