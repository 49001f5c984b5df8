// Package soak is `osupgrade soak`: a bounded run of mixed API load against
// `osupgrade serve --fleet sim` in a child process on loopback, which checks
// that the server's resident memory (less the pages of its state database's
// mapping, which grows with the journals by design), goroutines and open
// file descriptors stay flat, that no request gets a 5xx (or no answer), and that every
// rollout it started ends as its uninterrupted twin: the same requests
// replayed alone on a fresh in-process server with the virtual clock.
package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options are what `osupgrade soak` is told.
type Options struct {
	// Duration is how long the load runs; rollouts started before its end
	// are then carried to theirs.
	Duration time.Duration
	// Out is the directory soak.json and serve.log go to.
	Out string
	// Server is the command, up to and including the subcommand, that runs
	// `osupgrade serve` (default: this executable, "serve"); Env is added to
	// its environment.
	Server []string
	Env    []string
	// TimeScale is the server's --time-scale: scenario seconds per wall
	// second.
	TimeScale float64
	// Seed is the server's --seed and shifts the rollout cases' draw.
	Seed uint64
	// SampleEvery is the period of the RSS, goroutine and fd samples.
	SampleEvery time.Duration
	// RolloutWorkers, ChurnWorkers and ReadWorkers are the load's
	// concurrent loops; Pause is each loop's sleep between two requests.
	RolloutWorkers, ChurnWorkers, ReadWorkers int
	Pause                                     time.Duration
	// Rule judges the samples.
	Rule FlatRule
	// Progress receives a line per finished rollout (nil: none).
	Progress io.Writer
}

// DefaultRule is the flatness rule of `osupgrade soak`: the first 25% of
// the samples are warm-up; growth up to 20% of the baseline plus an
// absolute slack per resource (see Slack).
var DefaultRule = FlatRule{Warmup: 0.25, Rel: 0.2}

// Slack is the absolute growth allowed per resource on top of the relative
// one: a few MiB of heap the GC has not returned, a handful of goroutines
// and descriptors of connections being opened or closed at a sample.
var Slack = map[string]float64{"rss-less-state.db": 8 << 20, "goroutines": 10, "fds": 8}

// Result is soak.json.
type Result struct {
	Pass        bool          `json:"pass"`
	Violations  []string      `json:"violations"`
	Duration    string        `json:"duration"`
	Wall        string        `json:"wall"`
	TimeScale   float64       `json:"timeScale"`
	Seed        uint64        `json:"seed"`
	Rule        FlatRule      `json:"rule"`
	Requests    []KindStats   `json:"requests"`
	Total       KindStats     `json:"total"`
	ServerError []string      `json:"serverErrors,omitempty"` // first 5xx and no-answer requests
	Resources   []Flatness    `json:"resources"`
	Samples     Series        `json:"samples"`
	Rollouts    RolloutResult `json:"rollouts"`
	Churn       ChurnResult   `json:"churn"`
	ServeExit   string        `json:"serveExit"`
}

// RolloutResult counts the planned rollouts and their twins.
type RolloutResult struct {
	Started    int              `json:"started"`
	Compared   int              `json:"compared"`
	Equal      int              `json:"equal"`
	ByCase     map[string]int   `json:"byCase"`
	ByOutcome  map[string]int   `json:"byOutcome"`
	Mismatches []RolloutCompare `json:"mismatches,omitempty"`
}

// RolloutCompare is one rollout and its twin.
type RolloutCompare struct {
	Plan rolloutPlan `json:"plan"`
	Soak Outcome     `json:"soak"`
	Twin Outcome     `json:"twin"`
}

// ChurnResult counts the churn loops: steps answered with a status other
// than the one the loop hoped for are expected (a cancel after the end is
// a 409), and counted here; only 5xx and no answer are violations.
type ChurnResult struct {
	Cycles     int            `json:"cycles"`
	Unexpected map[string]int `json:"unexpectedStatus"`
}

// bootTime is every soak set's osupgrade.bootTime.
const bootTime = "30s"

// Run runs the soak and returns its result; err is an environment failure
// (the server did not start), not a violation.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Duration <= 0 || o.TimeScale <= 0 || o.SampleEvery <= 0 || o.RolloutWorkers < 1 {
		return nil, fmt.Errorf("soak: duration, time scale, sample period and rollout workers must be more than 0")
	}
	if len(o.Server) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("soak: this executable: %w", err)
		}
		o.Server = []string{exe, "serve"}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	begin := time.Now()
	srv, err := startServer(ctx, o)
	if err != nil {
		return nil, err
	}
	defer srv.kill()

	rec := newRecorder()
	c, err := newTLSClient(srv.url, srv.token, srv.cert, rec)
	if err != nil {
		return nil, err
	}
	res := &Result{Duration: o.Duration.String(), TimeScale: o.TimeScale, Seed: o.Seed, Rule: o.Rule,
		Rollouts: RolloutResult{ByCase: map[string]int{}, ByOutcome: map[string]int{}}, Churn: ChurnResult{Unexpected: map[string]int{}}}

	// The load stops at loadCtx's end; a rollout started before carries on
	// under runCtx, bounded by its own scenario-time limit.
	runCtx, cancelRun := context.WithTimeout(ctx, o.Duration+time.Duration(float64(rolloutLimit)/o.TimeScale)+time.Minute)
	defer cancelRun()
	loadCtx, cancelLoad := context.WithTimeout(runCtx, o.Duration)
	defer cancelLoad()

	l := &load{o: o, c: c, wait: sleepScaled(o.TimeScale), res: res}
	var wg sync.WaitGroup
	samples := make(chan Series, 1)
	go func() {
		samples <- sample(loadCtx, o.SampleEvery, srv.pid, c, filepath.Join(srv.dir, "state.db"), begin)
	}()
	for w := range o.RolloutWorkers {
		wg.Go(func() { l.rollouts(loadCtx, runCtx, w) })
	}
	for w := range o.ChurnWorkers {
		wg.Go(func() { l.churn(loadCtx, runCtx, w) })
	}
	for w := range o.ReadWorkers {
		wg.Go(func() { l.reads(loadCtx, w) })
	}
	wg.Wait()
	res.Samples = <-samples
	kinds, total, serverErrors, nServer := rec.stats()
	res.Requests, res.Total, res.ServerError = kinds, total, serverErrors

	exit, logText := srv.stop()
	res.ServeExit = exit

	// Judgments.
	v := &res.Violations
	if nServer > 0 {
		*v = append(*v, fmt.Sprintf("%d requests got a 5xx or no answer (the first are listed under serverErrors; serve.log has the server's side)", nServer))
		for _, e := range serverErrors {
			*v = append(*v, "  "+e)
		}
	}
	for _, p := range []struct {
		name, unit string
		s          []Sample
	}{{"rss-less-state.db", "bytes", res.Samples.RSS}, {"goroutines", "", res.Samples.Goroutines}, {"fds", "", res.Samples.FDs}} {
		r := o.Rule
		r.Abs = Slack[p.name]
		f := r.Judge(p.name, p.unit, p.s)
		res.Resources = append(res.Resources, f)
		if !f.Flat {
			why := "not flat: " + f.Why
			if p.s != nil && p.name == "rss-less-state.db" {
				why += "; " + RSSBreakdown(res.Samples)
			}
			*v = append(*v, why)
		}
	}
	if exit != "exit status 0" {
		*v = append(*v, "serve did not stop cleanly on SIGTERM: "+exit)
	}
	if i := strings.Index(logText, "panic:"); i >= 0 {
		*v = append(*v, "serve.log holds a panic: "+firstLine(logText[i:]))
	}
	*v = append(*v, l.violations...)

	// Every rollout that ended is replayed alone, after the load, so that
	// the replays do not load the machine the soak measures.
	if ctx.Err() != nil {
		*v = append(*v, fmt.Sprintf("interrupted (%v): rollouts not compared with their twins", ctx.Err()))
		l.ended = nil
	}
	for _, r := range l.ended {
		twin, err := twinOutcome(runCtx, r.Plan, o.Seed, bootTime)
		if err != nil {
			*v = append(*v, fmt.Sprintf("rollout %s (%s): its twin did not run: %v", r.Plan.Set, r.Plan.Case, err))
			continue
		}
		r.Twin = twin
		res.Rollouts.Compared++
		if r.Soak.equal(twin) {
			res.Rollouts.Equal++
			continue
		}
		res.Rollouts.Mismatches = append(res.Rollouts.Mismatches, r)
		*v = append(*v, fmt.Sprintf("rollout %s %s→%s (%s) ended %s/%s with versions %v, health %v; its twin %s/%s with %v, %v",
			r.Plan.Set, r.Plan.From, r.Plan.To, r.Plan.Case, r.Soak.Status, r.Soak.ErrorCode, r.Soak.Versions, r.Soak.Health, twin.Status, twin.ErrorCode, twin.Versions, twin.Health))
	}
	if res.Rollouts.Compared == 0 && ctx.Err() == nil {
		*v = append(*v, "no rollout ran to its end: nothing compared with a twin (a longer --duration)")
	}
	res.Pass = len(*v) == 0
	res.Wall = time.Since(begin).Round(time.Millisecond).String()
	if res.Violations == nil {
		res.Violations = []string{}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return res, err
	}
	return res, os.WriteFile(filepath.Join(o.Out, "soak.json"), append(b, '\n'), 0o644)
}

// RSSBreakdown says where resident memory went, first → last sample:
// anonymous (the heap) or file pages (state.db's mmap).
func RSSBreakdown(s Series) string {
	var parts []string
	for _, d := range []struct {
		name string
		s    []Sample
	}{{"VmRSS", s.VmRSS}, {"RssAnon", s.RSSAnon}, {"RssFile", s.RSSFile}, {"state.db resident", s.StateDBRSS}, {"Go heap in use", s.HeapInuse}, {"state.db", s.StateDB}} {
		if len(d.s) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s → %s", d.name, FormatValue(d.s[0].Value, "bytes"), FormatValue(d.s[len(d.s)-1].Value, "bytes")))
		}
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// sleepScaled lets scenario time pass on a real clock running at scale.
func sleepScaled(scale float64) clockWait {
	return func(ctx context.Context, d time.Duration) error {
		return sleep(ctx, time.Duration(float64(d)/scale))
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// server is the child `osupgrade serve`.
type server struct {
	cmd   *exec.Cmd
	pid   int
	url   string
	token string
	cert  []byte
	dir   string
	log   *os.File
	done  chan error
}

var listeningRE = regexp.MustCompile(`listening on (https://\S+)`)

// startServer starts serve on 127.0.0.1 with an ephemeral port and a fresh
// data directory, and waits for its "listening on" line. serve generates
// its token and certificate into the data directory, as on any first start.
func startServer(ctx context.Context, o Options) (*server, error) {
	dir, err := os.MkdirTemp("", "osupgrade-soak-")
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(o.Out, "serve.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := append(append([]string{}, o.Server[1:]...),
		"--fleet", "sim", "--listen", "127.0.0.1:0", "--data", dir,
		"--time-scale", fmt.Sprint(o.TimeScale), "--seed", fmt.Sprint(o.Seed))
	cmd := exec.Command(o.Server[0], args...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", strings.Join(o.Server, " "), err)
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid, dir: dir, log: logf, done: make(chan error, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		s.done <- cmd.Wait()
	}()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case s.url = <-found:
	case err := <-s.done:
		s.done <- err
		s.kill()
		return nil, fmt.Errorf("serve exited before listening (%v); its output is in %s", err, logf.Name())
	case <-t.C:
		s.kill()
		return nil, fmt.Errorf("serve did not say it was listening within 30 s; its output is in %s", logf.Name())
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		s.kill()
		return nil, fmt.Errorf("serve's generated token: %w", err)
	}
	s.token = strings.TrimSpace(string(tok))
	if s.cert, err = os.ReadFile(filepath.Join(dir, "tls.crt")); err != nil {
		s.kill()
		return nil, fmt.Errorf("serve's generated certificate: %w", err)
	}
	return s, nil
}

// stop sends SIGTERM and waits (15 s at most, then SIGKILL); it returns how
// the process ended and what it wrote.
func (s *server) stop() (exit, log string) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	var err error
	select {
	case err = <-s.done:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		err = <-s.done
		err = fmt.Errorf("killed after 15 s without exiting on SIGTERM: %w", err)
	}
	exit = "exit status 0"
	if err != nil {
		exit = err.Error()
	}
	s.log.Close()
	b, _ := os.ReadFile(s.log.Name())
	os.RemoveAll(s.dir)
	s.cmd = nil
	return exit, string(b)
}

// kill ends a server that stop did not: an early return.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	s.log.Close()
	os.RemoveAll(s.dir)
	s.cmd = nil
}
