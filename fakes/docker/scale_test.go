package docker_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/osupgrade/osupgrade/fakes/fleettest"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// TestScale measures a fleet of OSUPGRADE_DOCKER_SCALE instances: create,
// observe, replace every container (8 reimages at a time, as the harness's
// orchestrator does) and memory per container. It reports numbers and
// asserts only outcomes: every instance healthy on the new version with its
// data intact.
//
//	OSUPGRADE_DOCKER_SCALE=50 go test -run TestScale -v ./fakes/docker/
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("OSUPGRADE_DOCKER_SCALE"))
	if n <= 0 {
		t.Skip("skipping: set OSUPGRADE_DOCKER_SCALE=N to measure a fleet of N containers")
	}
	f, cli, clk := newFleet(t)
	ctx := context.Background()
	m := fleettest.Model("scale", n, plan.HealthExtension)
	m.AppHealth.GracePeriod = 0 // the default: interval × probes

	start := time.Now()
	if err := f.CreateScaleSet(ctx, m, fleettest.V1); err != nil {
		t.Fatal(err)
	}
	created := time.Since(start)
	waitFor(t, f, clk, m.Name, "healthy", healthyOn(fleettest.V1))
	healthy := time.Since(start)
	data, err := f.DataDigests(ctx, m.Name)
	if err != nil {
		t.Fatal(err)
	}

	var obsTimes []time.Duration
	for range 5 {
		s := time.Now()
		if _, err := f.Observe(ctx, m.Name); err != nil {
			t.Fatal(err)
		}
		obsTimes = append(obsTimes, time.Since(s))
	}
	slices.Sort(obsTimes)

	var mem []float64
	list, err := cli.ContainerList(ctx, container.ListOptions{Filters: runFilter(f.RunID())})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		st, err := cli.ContainerStatsOneShot(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var s container.StatsResponse
		err = json.NewDecoder(st.Body).Decode(&s)
		st.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		// docker stats' MEM USAGE: usage less the inactive file cache.
		used := float64(s.MemoryStats.Usage - s.MemoryStats.Stats["inactive_file"])
		mem = append(mem, used/(1<<20))
	}
	sort.Float64s(mem)

	start = time.Now()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f.Reimage(ctx, m.Name, i, image(fleettest.V2))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("reimage %d: %v", i, err)
		}
	}
	replaced := time.Since(start)
	waitFor(t, f, clk, m.Name, "healthy on V2", healthyOn(fleettest.V2))
	replacedHealthy := time.Since(start)
	if after, err := f.DataDigests(ctx, m.Name); err != nil || !slices.Equal(after, data) {
		t.Fatalf("data after replacing every container: %v, changed=%t", err, !slices.Equal(after, data))
	}
	t.Logf("%d containers: create+start %s (healthy after %s); replace all %s (healthy after %s); observe p50 %s max %s; memory per container median %.1f MiB, max %.1f MiB (time scale 60)",
		n, created.Round(time.Millisecond), healthy.Round(time.Millisecond), replaced.Round(time.Millisecond), replacedHealthy.Round(time.Millisecond),
		obsTimes[len(obsTimes)/2].Round(time.Millisecond), obsTimes[len(obsTimes)-1].Round(time.Millisecond), mem[len(mem)/2], mem[len(mem)-1])
}
