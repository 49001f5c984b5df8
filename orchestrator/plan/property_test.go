package plan

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Properties over N = 1..1000 with unhealthy counts at the floor and ceiling
// around 20% (R-PRE-1, R-BATCH-1, R-BATCH-2, R-AVAIL-1, R-ORDER-1).
func TestProperties_AroundTwentyPercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 1000; n++ {
		zones := [][]string{nil, {"1"}, {"1", "2"}, {"1", "2", "3"}}[n%4]
		uds := 1 + n%5
		// Unhealthy counts just at and just over 20% (floor and ceil of N/5, and one more).
		for _, u := range []int{n / 5, (n + 4) / 5, n/5 + 1} {
			if u > n {
				continue
			}
			ins := fleet(n, zones, uds, "v1")
			for _, i := range rng.Perm(n)[:u] {
				ins[i].Health = HealthUnhealthy
			}
			r, err := NewRollout(DefaultPolicy(), Image{Ref: "r", Version: "v2"}, zones, false, t0)
			if err != nil {
				t.Fatal(err)
			}
			d := r.Next(Observation{Now: t0, Instances: ins})
			wantBlocked := 5*u > n
			if blocked := r.Status() == StatusNotStarted; blocked != wantBlocked {
				t.Fatalf("N=%d unhealthy=%d: blocked=%v, want %v (5*%d > %d)", n, u, blocked, wantBlocked, u, n)
			}
			if wantBlocked {
				if len(d.Reimages) != 0 {
					t.Fatalf("N=%d: a blocked rollout reimaged %d instances", n, len(d.Reimages))
				}
				continue
			}
			checkBatches(t, fmt.Sprintf("N=%d u=%d zones=%v uds=%d", n, u, zones, uds), r, ins)
		}
	}
}

// checkBatches: every instance exactly once, no batch above max(1, N/5), no
// batch mixing zones or update domains, zones in listed order.
func checkBatches(t *testing.T, name string, r *Rollout, ins []Instance) {
	t.Helper()
	limit := BatchSize(len(ins), 20)
	seen := make([]bool, len(ins))
	zoneRank := map[string]int{}
	for i, z := range r.zones {
		zoneRank[z] = i
	}
	lastZone := -1
	for _, b := range r.batches {
		if b.Len() < 1 || b.Len() > limit {
			t.Fatalf("%s: batch of %d, limit %d", name, b.Len(), limit)
		}
		for _, i := range r.order[b.From:b.To] {
			if seen[i] {
				t.Fatalf("%s: instance %d in two batches", name, i)
			}
			seen[i] = true
			if ins[i].Zone != b.Zone || ins[i].UpdateDomain != b.UpdateDomain {
				t.Fatalf("%s: batch zone %s ud %d holds instance %d (zone %s ud %d)", name, b.Zone, b.UpdateDomain, i, ins[i].Zone, ins[i].UpdateDomain)
			}
		}
		if zr := zoneRank[b.Zone]; zr < lastZone {
			t.Fatalf("%s: zone %s after a later zone", name, b.Zone)
		} else {
			lastZone = zr
		}
	}
	for i, s := range seen {
		if !s {
			t.Fatalf("%s: instance %d never upgraded", name, i)
		}
	}
}

// The planner is pure: no wall clock, no I/O, no global randomness, no
// Docker. This test fails the build when an import or call sneaks in.
func TestPlannerIsPure(t *testing.T) {
	forbiddenImports := []string{"os", "net", "net/http", "math/rand", "math/rand/v2", "io/ioutil", "syscall", "os/exec", "sync", "github.com/docker/"}
	forbiddenCalls := map[string][]string{"time": {"Now", "Sleep", "After", "Tick", "NewTimer", "NewTicker", "Since", "Until", "AfterFunc"}}
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	checked := 0
	for _, fn := range files {
		if strings.HasSuffix(fn, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, fn, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbiddenImports {
				if p == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(p, bad)) {
					t.Errorf("%s imports %s: the planner must stay pure", fn, p)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok {
				for _, name := range forbiddenCalls[id.Name] {
					if sel.Sel.Name == name {
						t.Errorf("%s: %s.%s at %s: time comes in as Observation.Now", fn, id.Name, name, fset.Position(sel.Pos()))
					}
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			if _, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: starts a goroutine at %s", fn, fset.Position(n.Pos()))
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no planner source files found")
	}
}
