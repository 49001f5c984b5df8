package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// TestPushRollout compares our rollout on the Docker fleet with push health
// ("push"), with the agents polled as before it ("poll"), and the engine's
// plain recreate ("limit", Docker.Limit), turn by turn with the order
// rotated, at the sizes in OSUPGRADE_BENCH_PUSH (e.g. "50,100,200"). It
// reports each way's median and mean with its 95% interval, the paired
// ratios, and the health-gated lower bound: the recreate plus, for each of
// the rollout's batches, one boot and one health confirmation
// (LowerBound's Total at the time scale). It asserts nothing: the machine
// is shared. No swarm is created.
//
//	OSUPGRADE_BENCH_PUSH=50,100,200 OSUPGRADE_BENCH_PUSH_REPS=3 \
//	OSUPGRADE_BENCH_PUSH_WAYS=push,poll,limit go test -run TestPushRollout -v -timeout 90m ./bench/
//
// OSUPGRADE_BENCH_PUSH_WAYS_AT_200 overrides the ways at 200 (the longest
// turns).
func TestPushRollout(t *testing.T) {
	sizes := os.Getenv("OSUPGRADE_BENCH_PUSH")
	if sizes == "" {
		t.Skip("skipping: set OSUPGRADE_BENCH_PUSH=50,100,200 to compare push and poll health on Docker")
	}
	reps, _ := strconv.Atoi(os.Getenv("OSUPGRADE_BENCH_PUSH_REPS"))
	reps = max(reps, 1)
	const scale = 20 // bench's default time scale
	ctx := context.Background()
	var poll bool
	ours, err := backend.Lookup("docker") // its properties; Open polls or not
	if err != nil {
		t.Fatal(err)
	}
	ours.Open = func(ctx context.Context, c backend.Config) (backend.Fleet, error) {
		opts, err := docker.ForTest(ctx, docker.Options{RunID: c.RunID, Clock: c.Clock, TimeScale: c.TimeScale, PollAgents: poll})
		if err != nil {
			return nil, err
		}
		return docker.New(ctx, opts)
	}
	d, err := newPushBench(ctx, scale, ours)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			t.Fatalf("OSUPGRADE_BENCH_PUSH: %q is not a size", s)
		}
		ways := strings.Split(cmpOr(os.Getenv("OSUPGRADE_BENCH_PUSH_WAYS"), "push,poll,limit"), ",")
		if w := os.Getenv("OSUPGRADE_BENCH_PUSH_WAYS_AT_200"); w != "" && n == 200 {
			ways = strings.Split(w, ",")
		}
		if err := d.Prepare(ctx, n); err != nil {
			t.Fatal(err)
		}
		got := map[string][]float64{}
		for rep := range reps {
			for k := range ways {
				w := ways[(rep+k)%len(ways)]
				var took time.Duration
				switch w {
				case "push", "poll":
					poll = w == "poll"
					took, err = d.Ours(ctx, n)
				case "limit":
					took, err = d.Limit(ctx, n)
				default:
					t.Fatalf("OSUPGRADE_BENCH_PUSH_WAYS: unknown way %q", w)
				}
				if err != nil {
					t.Fatalf("N=%d %s rep %d: %v", n, w, rep+1, err)
				}
				got[w] = append(got[w], took.Seconds())
				t.Logf("N=%d %s rep %d/%d: %.2f s", n, w, rep+1, reps, took.Seconds())
				fmt.Printf("BenchmarkPushRollout/way=%s/N=%d\t1\t%d ns/op\n", w, n, took.Nanoseconds())
			}
		}
		gate := LowerBound(benchModel(n)).Total
		gateWall := d.HealthGate(n)
		var lower []float64
		for _, l := range got["limit"] {
			lower = append(lower, l+gateWall.Seconds())
		}
		got["lower bound"] = lower
		for _, w := range append(ways, "lower bound") {
			s := Summarize("s", got[w])
			t.Logf("N=%d %-11s median %.2f s, mean %.2f s (95%% CI %.2f–%.2f), n=%d", n, w, s.P50, s.Mean, s.CILo, s.CIHi, s.N)
		}
		t.Logf("N=%d health gate: %s of scenario time = %s wall at time scale %d, added to each recreate", n, gate, gateWall, scale)
		for _, of := range []string{"push", "poll"} {
			for _, to := range []string{"lower bound", "limit", "push"} {
				if of == to || (of == "push" && to == "push") {
					continue
				}
				if r, err := PairedRatio(of, to, got[of], got[to]); err == nil {
					t.Logf("N=%d %s ÷ %s = %.3f (95%% CI %.3f–%.3f, n=%d)", n, of, to, r.Ratio, r.CILo, r.CIHi, r.N)
				}
			}
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// newPushBench is NewDocker without the swarm: the images and the network
// the limit way needs, on a run of its own.
func newPushBench(ctx context.Context, scale float64, ours backend.Factory) (*Docker, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	d := &Docker{cli: cli, opts: DockerOptions{Ours: ours, TimeScale: scale}, run: fmt.Sprintf("push%d", time.Now().UnixNano()%1e9)}
	d.swarmErr = fmt.Errorf("not measured here")
	d.cleanups = append(d.cleanups, d.removeLabelled)
	bins, err := buildBinaries(ctx)
	if err != nil {
		return nil, errorsJoin(err, d.Close(ctx))
	}
	for i, version := range []string{"1.0.0", "2.0.0"} {
		if d.image[i], err = d.buildImage(ctx, version, bins); err != nil {
			return nil, errorsJoin(err, d.Close(ctx))
		}
	}
	nw, err := cli.NetworkCreate(ctx, "osupgrade-bench-"+d.run, network.CreateOptions{Driver: "bridge", Labels: d.labels()})
	if err != nil {
		return nil, errorsJoin(err, d.Close(ctx))
	}
	d.netID = nw.ID
	return d, nil
}

func errorsJoin(a, b error) error {
	if b == nil {
		return a
	}
	return fmt.Errorf("%w (and closing: %v)", a, b)
}
