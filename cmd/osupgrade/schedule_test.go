package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// The Docker fleet builds a run's images before its clock starts.
var _ backend.ImagePreparer = (*docker.Fleet)(nil)

// admissions plays admit over jobs that each run for their length in
// ticks, and returns who started at each tick a job started: "t0: 0 1 2;
// t3: 3".
func admissions(b runBudget, jobs []runJob, length []int) string {
	pending := make([]int, len(jobs))
	for i := range pending {
		pending[i] = i
	}
	ends := map[int]int{} // running job → tick it ends
	var out []string
	for t := 0; len(pending) > 0 || len(ends) > 0; t++ {
		for i, e := range ends {
			if e == t {
				delete(ends, i)
			}
		}
		var running []int
		for i := range ends {
			running = append(running, i)
		}
		slices.Sort(running)
		start := admit(b, jobs, running, pending)
		if len(start) == 0 {
			continue
		}
		var ids []string
		for _, i := range start {
			pending = remove(pending, i)
			ends[i] = t + length[i]
			ids = append(ids, fmt.Sprint(i))
		}
		out = append(out, fmt.Sprintf("t%d: %s", t, strings.Join(ids, " ")))
	}
	return strings.Join(out, "; ")
}

func TestAdmit(t *testing.T) {
	docker := func(n int) runJob { return runJob{Weight: n} }
	alone := func(n int) runJob { return runJob{Weight: n, Exclusive: true} }
	ten := []int{1, 1, 1, 1, 1, 1}
	cases := []struct {
		name   string
		budget runBudget
		jobs   []runJob
		length []int
		want   string
	}{
		{"one at a time", runBudget{Scenarios: 1, Weight: 60}, []runJob{docker(10), docker(10), docker(10)}, []int{2, 1, 1},
			"t0: 0; t2: 1; t3: 2"},
		{"scenarios bound", runBudget{Scenarios: 3, Weight: 60}, []runJob{docker(10), docker(10), docker(10), docker(10), docker(10)}, ten,
			"t0: 0 1 2; t1: 3 4"},
		{"weight bound", runBudget{Scenarios: 9, Weight: 25}, []runJob{docker(10), docker(10), docker(10), docker(5)}, []int{1, 2, 1, 1},
			"t0: 0 1 3; t1: 2"},
		{"a lighter one passes a heavier that does not fit yet", runBudget{Scenarios: 3, Weight: 60}, []runJob{docker(10), docker(10), docker(50), docker(10)}, []int{3, 1, 1, 1},
			"t0: 0 1 3; t1: 2"},
		{"heavier than the budget runs alone when the machine is empty", runBudget{Scenarios: 3, Weight: 60}, []runJob{docker(10), docker(100), docker(10)}, []int{2, 1, 1},
			"t0: 0 2; t2: 1"},
		{"heavier than the budget first: nothing beside it", runBudget{Scenarios: 3, Weight: 60}, []runJob{docker(1000), docker(10), docker(10)}, []int{2, 1, 1},
			"t0: 0; t2: 1 2"},
		{"exclusive waits for an empty machine, then runs alone", runBudget{Scenarios: 3, Weight: 60}, []runJob{docker(10), alone(10), docker(10), docker(10)}, []int{1, 1, 2, 1},
			"t0: 0 2 3; t2: 1"},
		{"exclusive first: the others after it", runBudget{Scenarios: 3, Weight: 60}, []runJob{alone(10), docker(10), docker(10)}, []int{2, 1, 1},
			"t0: 0; t2: 1 2"},
		{"simulated weightless scenarios fill the slots", runBudget{Scenarios: 3, Weight: 60}, []runJob{docker(50), docker(0), docker(0), docker(0)}, []int{3, 1, 1, 1},
			"t0: 0 1 2; t1: 3"},
		{"scenarios 0 is one at a time", runBudget{Scenarios: 0, Weight: 60}, []runJob{docker(1), docker(1)}, []int{1, 1},
			"t0: 0; t1: 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := admissions(c.budget, c.jobs, c.length); got != c.want {
				t.Errorf("admissions\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestJobFor(t *testing.T) {
	sc := func(exclusive bool, n ...int) *scenario.File {
		f := &scenario.File{Exclusive: exclusive}
		for _, k := range n {
			f.ScaleSets = append(f.ScaleSets, scenario.ScaleSet{Instances: k})
		}
		return f
	}
	cases := []struct {
		name  string
		sc    *scenario.File
		fleet string
		want  runJob
	}{
		{"docker: every set's instances", sc(false, 10, 5), "docker", runJob{Weight: 15}},
		{"sim: nothing", sc(false, 10, 5), "sim", runJob{}},
		{"sim: a million, nothing", sc(false, 1000000), "sim", runJob{}},
		{"sim exclusive", sc(true, 10), "sim", runJob{Exclusive: true}},
		{"exclusive", sc(true, 9), "docker", runJob{Weight: 9, Exclusive: true}},
	}
	for _, c := range cases {
		f, err := backend.Lookup(c.fleet)
		if err != nil {
			t.Fatal(err)
		}
		if got := jobFor(c.sc, f); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// runScheduled reports in index order whatever order the jobs end in, and
// starts a job when one ends and the budget lets it.
func TestRunScheduledOrder(t *testing.T) {
	jobs := make([]runJob, 4)
	var started, release, ended [4]chan struct{}
	for i := range jobs {
		jobs[i] = runJob{Weight: 10}
		started[i], release[i], ended[i] = make(chan struct{}), make(chan struct{}), make(chan struct{})
	}
	var mu sync.Mutex
	var log []string
	note := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		runScheduled(context.Background(), runBudget{Scenarios: 3, Weight: 60}, jobs[:], func(ctx context.Context, i int) {
			close(started[i])
			<-release[i]
			note(fmt.Sprint("end ", i))
			close(ended[i])
		}, func(i int) bool {
			note(fmt.Sprint("done ", i))
			return true
		})
	}()
	for i := range 3 {
		<-started[i]
	}
	select {
	case <-started[3]:
		t.Fatal("job 3 started beside 3 others: the budget is 3 scenarios")
	default:
	}
	close(release[2])
	<-ended[2]
	<-started[3] // 2 ended: room for 3
	close(release[1])
	<-ended[1]
	close(release[3])
	<-ended[3]
	close(release[0])
	<-returned
	want := []string{"end 2", "end 1", "end 3", "end 0", "done 0", "done 1", "done 2", "done 3"}
	if !slices.Equal(log, want) {
		t.Errorf("log %v\nwant %v", log, want)
	}
}

// When done says stop, nothing more starts and runScheduled returns once
// the running jobs ended, their ctx cancelled.
func TestRunScheduledStop(t *testing.T) {
	jobs := make([]runJob, 6)
	var mu sync.Mutex
	var ran []int
	cancelled := 0
	runScheduled(context.Background(), runBudget{Scenarios: 2, Weight: 60}, jobs, func(ctx context.Context, i int) {
		mu.Lock()
		ran = append(ran, i)
		mu.Unlock()
		if i == 1 {
			<-ctx.Done() // runs until the run stops
			mu.Lock()
			cancelled++
			mu.Unlock()
		}
	}, func(i int) bool { return i != 0 })
	slices.Sort(ran)
	if !slices.Equal(ran, []int{0, 1}) {
		t.Errorf("ran %v, want [0 1]: nothing starts after done said stop", ran)
	}
	if cancelled != 1 {
		t.Errorf("the running job's ctx was cancelled %d times, want 1", cancelled)
	}
}

// run --parallel: scenarios run at once print their results in the files'
// order, as they would one after another; a failure in one and bad
// --parallel behave as before.
func TestRunParallelKeepsOrder(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := range 6 {
		name := fmt.Sprintf("s%d", i)
		body := strings.Replace(passing, "name: small", "name: "+name, 1)
		if i == 3 {
			body = strings.Replace(body, "batches: 5", "batches: 4", 1)
		}
		write(t, dir, name+".yaml", body)
		names = append(names, name)
	}
	scenarios := func(stdout string) []string {
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var r struct{ Scenario string }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("not a JSON line: %v: %s", err, line)
			}
			got = append(got, r.Scenario)
		}
		return got
	}
	for _, parallel := range []string{"1", "4", "0"} {
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), []string{"run", "--parallel", parallel, "--json", dir}, &stdout, &stderr)
		if code != 1 {
			t.Errorf("--parallel %s: exit %d, want 1 (s3 fails)\n%s", parallel, code, stderr.String())
		}
		if got := scenarios(stdout.String()); !slices.Equal(got, names) {
			t.Errorf("--parallel %s: results in order %v, want %v", parallel, got, names)
		}
		var marks []string
		for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if f := strings.Fields(line); len(f) > 1 && (f[0] == "✓" || f[0] == "✗") {
				marks = append(marks, f[0]+f[1])
			}
		}
		if want := []string{"✓s0", "✓s1", "✓s2", "✗s3", "✓s4", "✓s5"}; !slices.Equal(marks, want) {
			t.Errorf("--parallel %s: stderr lines %v, want %v", parallel, marks, want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"run", "--parallel", "-1", dir}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--parallel is -1") {
		t.Errorf("--parallel -1: exit %d, stderr %s", code, stderr.String())
	}
}

func TestDefaultBudget(t *testing.T) {
	for _, c := range []struct {
		cpus int
		want runBudget
	}{
		{2, runBudget{Scenarios: 4, Weight: 60}},
		{8, runBudget{Scenarios: 16, Weight: 240}},
		{0, runBudget{Scenarios: 2, Weight: 30}},
	} {
		if got := defaultBudget(c.cpus); got != c.want {
			t.Errorf("defaultBudget(%d) = %+v, want %+v", c.cpus, got, c.want)
		}
	}
}
