package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// Test runs and what a killed one leaves behind.
//
// A Docker test killed by `go test -timeout` (or SIGKILL) never runs its
// t.Cleanup, and a serve child it started dies with it: the run's
// containers, volumes and networks stay on the engine for good. Test
// helpers therefore label what their fleets create with the test process
// that owns them (Options.TestOwner, LabelTestOwner), and sweep, before
// they create a fleet, every run whose owner process is gone
// (SweepDeadTestRuns). A run without that label (a user's `serve`, which
// reattaches to its run after a restart) is never swept.

// LabelTestOwner names the test process that owns a run:
// "test:<host>:<pid>:<start>", start being the process's start time in
// clock ticks after boot (/proc/<pid>/stat field 22), so that a pid reused
// by another process does not keep a dead run alive.
const LabelTestOwner = "osupgrade.test-owner"

// TestOwnerEnv passes the owner to a child process (an `osupgrade serve`
// a test starts): New labels with it when Options.TestOwner is empty.
const TestOwnerEnv = "OSUPGRADE_TEST_OWNER"

// TestOwner is this process's owner value for Options.TestOwner and
// TestOwnerEnv.
func TestOwner() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("docker: test owner: %w", err)
	}
	pid := os.Getpid()
	start, alive, err := procStart(pid)
	if err != nil || !alive {
		return "", fmt.Errorf("docker: test owner: the start time of this process (pid %d): %v", pid, err)
	}
	return formatTestOwner(host, pid, start), nil
}

func formatTestOwner(host string, pid int, start uint64) string {
	return fmt.Sprintf("test:%s:%d:%d", host, pid, start)
}

// ownerLiveness is the verdict on a run's owner.
type ownerLiveness int

const (
	ownerAlive   ownerLiveness = iota
	ownerGone                  // no such process, or another one under its pid
	ownerUnknown               // another host's, or not a test owner: never swept
)

// procStartFunc reads a process's start time; alive false when there is
// no such process.
type procStartFunc func(pid int) (start uint64, alive bool, err error)

// judgeTestOwner decides whether the process named by owner is still
// running, on host, reading start times with procStart. An owner of
// another host cannot be judged from here (the engine may be shared
// through DOCKER_HOST): unknown, as is a malformed value.
func judgeTestOwner(owner, host string, procStart procStartFunc) (ownerLiveness, error) {
	rest, ok := strings.CutPrefix(owner, "test:")
	if !ok {
		return ownerUnknown, nil
	}
	// The host name may not contain ':' in practice, but split from the
	// right so that it could.
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return ownerUnknown, nil
	}
	start, err := strconv.ParseUint(rest[i+1:], 10, 64)
	if err != nil {
		return ownerUnknown, nil
	}
	rest = rest[:i]
	j := strings.LastIndexByte(rest, ':')
	if j < 0 {
		return ownerUnknown, nil
	}
	pid, err := strconv.Atoi(rest[j+1:])
	if err != nil || pid <= 0 {
		return ownerUnknown, nil
	}
	if rest[:j] != host {
		return ownerUnknown, nil
	}
	got, alive, err := procStart(pid)
	if err != nil {
		return ownerUnknown, err
	}
	if !alive || got != start {
		return ownerGone, nil
	}
	return ownerAlive, nil
}

// procStart reads field 22 (starttime) of /proc/<pid>/stat. The command
// name (field 2) is in parentheses and may hold spaces and ')': the fields
// after it are counted from the last ')'.
func procStart(pid int) (uint64, bool, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return parseProcStart(string(b))
}

func parseProcStart(stat string) (uint64, bool, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("malformed /proc stat %q", stat)
	}
	// After ") ": state (field 3), ..., starttime is field 22, the 20th.
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 20 {
		return 0, false, fmt.Errorf("malformed /proc stat %q", stat)
	}
	if fields[0] == "Z" || fields[0] == "X" {
		// A zombie has exited; only its parent's wait is missing.
		return 0, false, nil
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("malformed /proc stat start time %q: %w", fields[19], err)
	}
	return start, true, nil
}

// SweepDeadTestRuns removes the containers, volumes and networks of every
// run whose LabelTestOwner names a process of this host that is gone. Runs
// without the label, of other hosts, or of live processes are left alone.
// It returns the runs it swept.
func SweepDeadTestRuns(ctx context.Context, progress io.Writer) ([]string, error) {
	cli, err := Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	return sweepDeadTestRuns(ctx, cli, host, procStart, progress)
}

var sweepOnce struct {
	sync.Once
	err error
}

// SweepDeadTestRunsOnce is SweepDeadTestRuns at most once per process: the
// test helpers call it before each fleet they create.
func SweepDeadTestRunsOnce(ctx context.Context, progress io.Writer) error {
	sweepOnce.Do(func() { _, sweepOnce.err = SweepDeadTestRuns(ctx, progress) })
	return sweepOnce.err
}

func sweepDeadTestRuns(ctx context.Context, cli *client.Client, host string, start procStartFunc, progress io.Writer) ([]string, error) {
	sel := filters.NewArgs(filters.Arg("label", LabelOwner+"="+Owner), filters.Arg("label", LabelTestOwner))
	// run id -> owner, from every kind of resource: a run killed while
	// creating its set may have a network and no container yet.
	runs := map[string]string{}
	add := func(l map[string]string) {
		if l[LabelOwner] == Owner && l[LabelRun] != "" && l[LabelTestOwner] != "" {
			runs[l[LabelRun]] = l[LabelTestOwner]
		}
	}
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: sel})
	if err != nil {
		return nil, fmt.Errorf("docker: sweep: list containers: %w", err)
	}
	for _, c := range cs {
		add(c.Labels)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: sel})
	if err != nil {
		return nil, fmt.Errorf("docker: sweep: list volumes: %w", err)
	}
	for _, v := range vs.Volumes {
		if v != nil {
			add(v.Labels)
		}
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: sel})
	if err != nil {
		return nil, fmt.Errorf("docker: sweep: list networks: %w", err)
	}
	for _, n := range ns {
		add(n.Labels)
	}
	var swept []string
	var errs []error
	for run, owner := range runs {
		v, err := judgeTestOwner(owner, host, start)
		if err != nil {
			errs = append(errs, fmt.Errorf("docker: sweep: run %s: %w", run, err))
			continue
		}
		if v != ownerGone {
			continue
		}
		// The owner value is part of the selection: a resource of the same
		// run id without it (or with another owner) stays.
		runSel := filters.NewArgs(filters.Arg("label", LabelOwner+"="+Owner), filters.Arg("label", LabelRun+"="+run), filters.Arg("label", LabelTestOwner+"="+owner))
		if err := removeLabelled(ctx, cli, runSel, false, progress); err != nil {
			errs = append(errs, fmt.Errorf("docker: sweep: run %s of %s: %w", run, owner, err))
			continue
		}
		swept = append(swept, run)
		if progress != nil {
			fmt.Fprintf(progress, "docker: swept run %s: its test process (%s) is gone\n", run, owner)
		}
	}
	return swept, errors.Join(errs...)
}

func (v ownerLiveness) String() string {
	switch v {
	case ownerAlive:
		return "alive"
	case ownerGone:
		return "gone"
	}
	return "unknown"
}

// ForTest labels opts with this test process as the run's owner
// (Options.TestOwner), after sweeping, once per process, the runs of test
// processes that are gone. A failed sweep is written to opts.Progress (or
// stderr), not returned: another run's leftovers must not fail this test.
func ForTest(ctx context.Context, opts Options) (Options, error) {
	if err := SweepDeadTestRunsOnce(ctx, opts.Progress); err != nil && !errors.Is(err, ErrEngineUnavailable) {
		w := opts.Progress
		if w == nil {
			w = os.Stderr
		}
		fmt.Fprintf(w, "docker: sweeping the runs of dead test processes: %v\n", err)
	}
	owner, err := TestOwner()
	if err != nil {
		return opts, err
	}
	opts.TestOwner = owner
	return opts, nil
}
