package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator/boltstore"
)

// buildDamageState writes a state.db as a server in use leaves it: two
// sets, one of them in the middle of an OS upgrade with a bad image marked,
// the simulated fleet's snapshots, operations, a resource group and a
// virtual network. It returns the file's bytes.
func buildDamageState(t *testing.T, dir string) []byte {
	t.Helper()
	ctx := context.Background()
	s := openCrashServer(t, dir)
	call(t, s, "PUT", "/subscriptions/"+testSub+"/resourceGroups/"+testRG, map[string]any{"location": "westeurope"}, http.StatusOK, http.StatusCreated)
	req := httptest.NewRequest("PUT", vnetPath+"/vnet?api-version=2024-07-01", strings.NewReader(`{"location":"westeurope"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
		t.Fatalf("PUT a virtual network: %d %s", rec.Code, rec.Body.String())
	}
	call(t, s, "PUT", setPath(""), scaleSetBody(10), http.StatusOK, http.StatusCreated)
	call(t, s, "PUT", strings.Replace(setPath(""), crashSet, "big", 1), scaleSetBody(20), http.StatusOK, http.StatusCreated)
	call(t, s, "POST", "/osupgrade/images", map[string]string{"image": "Canonical:UbuntuServer:" + ubuntuSKU, "version": killTarget}, http.StatusCreated)
	badImage(fault.NeverHealthy)(t, &crashRun{dir: dir, s: s})
	call(t, s, "POST", setPath("/osRollingUpgrade"), nil, http.StatusAccepted)
	if _, err := s.AdvanceClock(ctx, s.Now().Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const vnetPath = "/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Network/virtualNetworks"

// damage is one way of damaging the built state.db.
type damage struct {
	name  string
	kind  string // the kind of document damaged; "" for random damage
	apply func(b []byte)
}

// storedValues is, for each resource kind in the file, where in it the
// bytes of its first document are.
func storedValues(t *testing.T, path string, file []byte) map[string]int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]int{}
	err = db.View(func(tx *bolt.Tx) error {
		res := tx.Bucket([]byte("resources"))
		return res.ForEach(func(kind, _ []byte) error {
			k, v := res.Bucket(kind).Cursor().First()
			if k == nil || len(v) < 2 {
				return nil
			}
			if i := bytes.Index(file, v); i >= 0 {
				out[string(kind)] = i
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dataPages are the ids of the file's branch and leaf pages.
func dataPages(t *testing.T, path string) (pageSize int, ids []int) {
	t.Helper()
	// Read-write: bbolt reads the freelist, which tx.Page needs; nothing
	// is written.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pageSize = db.Info().PageSize
	err = db.View(func(tx *bolt.Tx) error {
		hwm := int(tx.Size()) / pageSize
		for id := 2; id < hwm; {
			pi, err := tx.Page(id)
			if err != nil {
				return err
			}
			if pi.Type == "branch" || pi.Type == "leaf" {
				ids = append(ids, id)
			}
			id += 1 + pi.OverflowCount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pageSize, ids
}

// panicLog records whether the recovery middleware logged a panic.
type panicLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *panicLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytes.Contains(p, []byte("msg=panic")) {
		l.lines = append(l.lines, string(p))
	}
	return len(p), nil
}

// damageCases is how many damages TestServeSurvivesStateDamage tries: one
// per kind of document, the rest random.
const damageCases = 60

// TestServeSurvivesStateDamage damages a state.db written by a server in
// use — one JSON document of each kind, and random bytes in its data pages
// — and opens it again: each damage either opens and answers GET requests
// without a panic, or is refused with ErrCorrupt in a message naming the
// file. A bare decoding error, or a panic, fails.
func TestServeSurvivesStateDamage(t *testing.T) {
	built := t.TempDir()
	pristine := buildDamageState(t, built)
	path := filepath.Join(built, "state.db")
	values := storedValues(t, path, pristine)
	for _, kind := range []string{kindARM, kindSimFleet, kindSimSet, kindFleet, kindFleetVM, kindFleetLog, kindBad, kindOperations, kindGroups, kindNetwork} {
		if _, ok := values[kind]; !ok {
			t.Fatalf("the built state has no %s document to damage (has %v)", kind, values)
		}
	}
	var cases []damage
	kinds := make([]string, 0, len(values))
	for k := range values {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		at := values[kind]
		// A NUL where the document's second byte was: no longer JSON,
		// while bbolt's pages and checks stay whole.
		cases = append(cases, damage{"value of " + kind, kind, func(b []byte) { b[at+1] = 0 }})
	}
	pageSize, pages := dataPages(t, path)
	rng := rand.New(rand.NewPCG(17, 5))
	for i := len(cases); i < damageCases; i++ {
		var spots [3][2]int
		for j := range spots {
			id := pages[rng.IntN(len(pages))]
			spots[j] = [2]int{id*pageSize + rng.IntN(pageSize-16), int(rng.Uint64() & 0x7fffffff)}
		}
		// Half the cases overwrite 3×16 bytes, which rarely leaves a
		// document decoding; the others one byte, which often leaves
		// JSON that decodes into something the server cannot use.
		n := 16
		if i%2 == 1 {
			n = 1
		}
		cases = append(cases, damage{fmt.Sprintf("random %d", i), "", func(b []byte) {
			r := rand.New(rand.NewPCG(uint64(spots[0][1]), uint64(spots[1][1])))
			for _, sp := range spots {
				for k := range n {
					b[sp[0]+k] = byte(r.UintN(256))
				}
			}
		}})
	}

	counts := map[string]int{}
	for _, c := range cases {
		outcome := openDamaged(t, c, pristine)
		counts[outcome]++
		t.Logf("%s: %s", c.name, outcome)
	}
	t.Logf("%d damages: %d refused with ErrCorrupt, %d opened and served, %d refused with another error, %d panicked, %d answered a GET with 5xx",
		len(cases), counts["refused"], counts["opened"], counts["bare"], counts["panic"], counts["5xx"])
	if n := len(cases) - counts["refused"] - counts["opened"]; n > 0 {
		t.Errorf("%d of %d damages were neither refused with the damage message nor served", n, len(cases))
	}
}

// openDamaged opens a copy of pristine with c applied and says how it went:
// "refused" (ErrCorrupt naming the file, and the record when a document was
// damaged), "opened" (served GETs without a panic or a 5xx), "bare" (another
// error), "panic" or "5xx".
func openDamaged(t *testing.T, c damage, pristine []byte) (outcome string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	b := bytes.Clone(pristine)
	c.apply(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil {
			t.Logf("%s: panic: %v", c.name, r)
			outcome = "panic"
		}
	}()
	logs := &panicLog{}
	s, err := Open(context.Background(), Options{DataDir: dir, Clock: "virtual", Token: testToken, Seed: 1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		if errors.Is(err, boltstore.ErrCorrupt) && strings.Contains(err.Error(), path) && (c.kind == "" || strings.Contains(err.Error(), "the "+c.kind+" record")) {
			return "refused"
		}
		t.Logf("%s: refused without the damage message: %v", c.name, err)
		return "bare"
	}
	defer s.Close()
	h := s.Handler()
	outcome = "opened"
	big := strings.Replace(setPath(""), crashSet, "big", 1)
	for _, p := range []string{
		setPath(""), setPath("/virtualMachines"), setPath("/virtualMachines/0/instanceView"), setPath("/rollingUpgrades/latest"), setPath("/osUpgradeHistory"),
		big, big + "/virtualMachines",
		"/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/virtualMachineScaleSets",
		"/subscriptions/" + testSub + "/resourceGroups",
		"/osupgrade/journal", "/osupgrade/fleet/journal", "/metrics",
	} {
		if rec := do(h, "GET", p, nil); rec.Code >= 500 {
			t.Logf("%s: GET %s: %d %s", c.name, p, rec.Code, rec.Body.String())
			outcome = "5xx"
		}
	}
	if len(logs.lines) > 0 {
		t.Logf("%s: a handler panicked: %s", c.name, logs.lines[0])
		return "panic"
	}
	return outcome
}
