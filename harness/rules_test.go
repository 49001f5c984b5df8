package harness

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// The checker's arithmetic (rules.go) and the planner's are written apart
// but must agree on the rules where neither has a bug: at every capacity to
// 1,000 and every percentage, at every count on both sides of each limit.
func TestCheckerArithmeticAgreesWithThePlannersOnTheRules(t *testing.T) {
	for pct := 0; pct <= 100; pct++ {
		for n := 0; n <= 1000; n++ {
			if pct >= 5 {
				if got, want := batchLimit(n, pct), plan.BatchSize(n, pct); got != want {
					t.Fatalf("batchLimit(%d, %d%%) = %d, the planner's BatchSize %d", n, pct, got, want)
				}
			}
			s := shareOf(n, pct)
			for x := max(0, s.whole-1); x <= s.whole+2; x++ {
				if got, want := s.exceededBy(x), plan.Exceeds(x, n, pct); got != want {
					t.Fatalf("%d of %d exceeds %d%%: checker %v, planner %v", x, n, pct, got, want)
				}
			}
		}
	}
	// R-STOP-1's share grows with the upgraded count, one instance at a time.
	up := share{pct: 20}
	for n := 1; n <= 1000; n++ {
		up.count()
		if got, want := up.exceededBy(n/5+1), plan.Exceeds(n/5+1, n, 20); got != want {
			t.Fatalf("%d of %d upgraded: checker %v, planner %v", n/5+1, n, got, want)
		}
	}
}

// The worked examples of R-BATCH-1 and the gates, straight from SPEC.md.
func TestCheckerArithmeticWorkedExamples(t *testing.T) {
	for _, c := range []struct{ n, want int }{{0, 0}, {1, 1}, {5, 1}, {9, 1}, {10, 2}, {12, 2}, {14, 2}, {15, 3}, {99, 19}, {100, 20}, {101, 20}} {
		if got := batchLimit(c.n, 20); got != c.want {
			t.Errorf("batchLimit(%d, 20%%) = %d, want max(1, floor(N/5)) = %d", c.n, got, c.want)
		}
	}
	for _, c := range []struct {
		x, n, pct int
		want      bool
	}{{2, 10, 20, false}, {3, 10, 20, true}, {2, 11, 20, false}, {3, 11, 20, true}, {1, 5, 20, false}, {2, 9, 20, true}, {0, 1, 0, false}, {1, 1, 0, true}, {1, 1, 100, false}} {
		if got := shareOf(c.n, c.pct).exceededBy(c.x); got != c.want {
			t.Errorf("%d of %d more than %d%%: %v, want %v", c.x, c.n, c.pct, got, c.want)
		}
	}
}

// gateUnhealthy and healthyOn classify every state an instance can report as
// the planner does.
func TestCheckerHealthAgreesWithThePlanners(t *testing.T) {
	for mode := plan.HealthExtension; mode <= plan.HealthNone; mode++ {
		for h := plan.Health(0); h <= plan.HealthInitializing+1; h++ {
			for p := plan.ProvisioningSucceeded; p <= plan.ProvisioningFailed+1; p++ {
				for _, running := range []bool{false, true} {
					for _, version := range []string{"1", "2"} {
						in := plan.Instance{Version: "1", Running: running, Provisioning: p, Health: h}
						if got, want := gateUnhealthy(&in, mode), plan.CountsUnhealthy(&in, mode); got != want {
							t.Errorf("%s, %+v: gateUnhealthy %v, planner %v", mode, in, got, want)
						}
						if got, want := healthyOn(&in, version, mode), plan.HealthyOn(&in, version, mode); got != want {
							t.Errorf("%s, %+v on %s: healthyOn %v, planner %v", mode, in, version, got, want)
						}
					}
				}
			}
		}
	}
}

// The checker stays independent of what it checks: no file of the harness
// but its tests calls the planner's rule arithmetic.
func TestCheckerDoesNotUseThePlannersRuleArithmetic(t *testing.T) {
	planners := map[string]bool{"BatchSize": true, "Exceeds": true, "CountsUnhealthy": true, "CountUnhealthy": true, "HealthyOn": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "plan" && planners[sel.Sel.Name] {
					t.Errorf("%s: the checker uses the planner's plan.%s: it must do its own arithmetic (rules.go)", fset.Position(sel.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("only %d files of the harness read: run from its directory", checked)
	}
}
