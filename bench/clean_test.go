package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// CleanAll removes what a killed benchmark left (here a volume and a
// network with the benchmark's label) and nothing else: a volume of the
// Docker fleet's, labelled osupgrade.owner=osupgrade, stays.
func TestCleanAllRemovesOnlyBenchmarkResources(t *testing.T) {
	ctx := context.Background()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("OSUPGRADE_REQUIRE_DOCKER") == "1" {
			t.Fatalf("the Docker engine is required here: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	defer cli.Close()
	left := map[string]string{LabelBenchOwner: BenchOwner, LabelBenchRun: "cleantest"}
	other := map[string]string{LabelBenchOwner: "osupgrade", "osupgrade.test": "bench-clean"}
	if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: "osupgrade-bench-cleantest-data", Labels: left}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.NetworkCreate(ctx, "osupgrade-bench-cleantest", network.CreateOptions{Driver: "bridge", Labels: left}); err != nil {
		t.Fatal(err)
	}
	keep, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: "osupgrade-cleantest-keep", Labels: other})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.VolumeRemove(ctx, keep.Name, true)

	var out bytes.Buffer
	if err := CleanAll(ctx, &out); err != nil {
		// Leftovers of other runs the engine refuses to remove (a network
		// with a stale endpoint) are not this test's; its own must go.
		if strings.Contains(err.Error(), "cleantest") {
			t.Fatalf("CleanAll: %v (%s)", err, out.String())
		}
		t.Logf("CleanAll reported about other resources: %v", err)
	}
	sel := filters.NewArgs(filters.Arg("label", LabelBenchRun+"=cleantest"))
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: sel})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: sel})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Volumes) != 0 || len(ns) != 0 {
		t.Errorf("left behind: %d volumes, %d networks with the benchmark's label", len(vs.Volumes), len(ns))
	}
	if _, err := cli.VolumeInspect(ctx, keep.Name); err != nil {
		t.Errorf("the fleet's volume was removed too: %v", err)
	}
}
