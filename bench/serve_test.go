package bench

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
)

// TestServeUnderAFleet runs the serve case as a test, so that it can be
// profiled (where a GET waits with 1,000 sets rolling). It asserts
// nothing: the machine is shared; `osupgrade bench --only serve` reports.
//
//	OSUPGRADE_BENCH_SERVE_SETS=1000 go test -run TestServeUnderAFleet -v \
//	  -cpuprofile cpu.out -mutexprofile mutex.out -timeout 30m ./bench/
func TestServeUnderAFleet(t *testing.T) {
	sets, _ := strconv.Atoi(os.Getenv("OSUPGRADE_BENCH_SERVE_SETS"))
	if sets < 1 {
		t.Skip("skipping: set OSUPGRADE_BENCH_SERVE_SETS=1000 to measure the serve case")
	}
	cfg := DefaultServeConfig(sets < 1_000)
	cfg.Sets = sets
	c, err := RunServe(context.Background(), *cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	t.Logf("%s", b)
}
