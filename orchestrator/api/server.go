package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/boltstore"
	"github.com/osupgrade/osupgrade/orchestrator/metrics"
)

// Options are what `osupgrade serve` is told.
type Options struct {
	// DataDir holds state.db (and the generated certificate and token).
	DataDir string
	// Fleet names the fleet backend in package backend's registry
	// (default DefaultFleet); the program links the backends it offers.
	Fleet string
	// Backend, when it has an Open, stands in for the backend registered
	// as Fleet (tests).
	Backend backend.Factory
	// Progress receives a wall-clock fleet's set-up lines (the Docker
	// fleet's image builds); nil: silent.
	Progress io.Writer
	// Clock is "real" (default; scaled by TimeScale) or "virtual" (moves
	// only through /osupgrade/clock).
	Clock     string
	TimeScale float64
	// WallNow reads the wall clock to start a real clock; required for
	// Clock "real".
	WallNow func() time.Time
	// Token is a bearer token every request may carry instead of an
	// access token from the token endpoint (/adfs/oauth2/token).
	Token string
	// TokenLifetime is how long access tokens live (default 1h).
	TokenLifetime time.Duration
	// Seed fixes the platform schedule's draws and the sim's data disks.
	Seed uint64
	// Poll is how often, in scenario time, a real-clock runner observes
	// the fleet (default 1s).
	Poll time.Duration
	// HistoryPageSize is the osUpgradeHistory page size (default 2, so
	// that clients meet nextLink); VMPageSize the virtualMachines one
	// (default 1000).
	HistoryPageSize int
	VMPageSize      int
	// JournalPageSize is the journal endpoints' page when the client gives
	// no limit (default 1000).
	JournalPageSize int
	// Logger receives the access log, runner and step errors and recovered
	// panics; nil: a text log on Log.
	Logger *slog.Logger
	// Log receives the text log when Logger is nil (default: discarded).
	Log io.Writer

	// state is DataDir's state database already opened (by Serve, which
	// opens it before writing anything beside it); Open owns it.
	state *boltstore.Store
}

// wallNow is the wall clock that times requests for the access log.
func (s *Server) wallNow() time.Time {
	if s.opts.WallNow != nil {
		return s.opts.WallNow()
	}
	return time.Now()
}

// log is the server's logger: Options.Logger, or a text log on Options.Log.
func (s *Server) log() *slog.Logger {
	if s.opts.Logger != nil {
		return s.opts.Logger
	}
	return slog.New(slog.NewTextHandler(s.opts.Log, nil))
}

// Server is the emulated Compute resource provider: state, runner and the
// HTTP handler.
type Server struct {
	opts    Options
	store   *boltstore.Store
	clock   orchestrator.Clock
	virtual *clock.Virtual
	fleet   *recordingFleet
	o       *orchestrator.Orchestrator
	metrics *metrics.Metrics
	handler *handler
	// identity is the token service: the service principal, its access
	// tokens and the static token.
	identity *identity

	// stepMu serializes the virtual clock's steps, so that a clock move
	// and a request's step never interleave.
	stepMu sync.Mutex
}

const metaClock = "clock"

// Open builds a server from the data directory, resuming whatever state it
// holds: scale sets, rollouts in progress, published images, gallery
// versions, operations, and (for the sim) the instances' OS versions.
func Open(ctx context.Context, opts Options) (s *Server, err error) {
	st := opts.state
	defer func() {
		if err != nil && st != nil {
			st.Close() // Open owns the state database, given or opened
		}
	}()
	if opts.DataDir == "" {
		return nil, errors.New("a data directory is required")
	}
	if opts.Token == "" {
		return nil, errors.New("a bearer token is required")
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.HistoryPageSize <= 0 {
		opts.HistoryPageSize = 2
	}
	if opts.VMPageSize <= 0 {
		opts.VMPageSize = 1000
	}
	if opts.JournalPageSize <= 0 {
		opts.JournalPageSize = defaultJournalPageSize
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 1
	}
	if opts.TimeScale < 0 {
		return nil, fmt.Errorf("time scale %v: want more than 0", opts.TimeScale)
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if st == nil {
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, err
		}
		if st, err = openState(opts.DataDir); err != nil {
			return nil, err
		}
	}
	s = &Server{opts: opts, store: st}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// openState opens the state database in dir, checking every document the
// server stores (storedDocs): a damaged one is refused with ErrCorrupt.
func openState(dir string) (*boltstore.Store, error) {
	return boltstore.OpenDecoding(filepath.Join(dir, "state.db"), 2*time.Second, storedDocs)
}

// DefaultFleet is the backend a server runs on when Options name none.
const DefaultFleet = backend.DefaultFleet

// DockerRunID is the run id that labels a server's fleet resources (the
// containers, on the Docker fleet): one per data directory, so that a
// restarted server reattaches to the instances it created before.
func DockerRunID(dataDir string) string {
	return fmt.Sprintf("serve-%08x", crc32.ChecksumIEEE([]byte(absPath(dataDir))))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func (s *Server) open(ctx context.Context) error {
	opts := s.opts
	fb := opts.Backend
	if fb.Open == nil {
		var err error
		if fb, err = backend.Lookup(cmp.Or(opts.Fleet, DefaultFleet)); err != nil {
			return err
		}
	}
	// The simulated fleet's whole state is saved with the server's: a
	// restart restores it from its snapshot.
	snap, haveSnap, err := loadSimSnapshot(ctx, s.store)
	if err != nil {
		return err
	}
	// The clock never runs behind what was journaled or written (the
	// stamp of every write), nor behind the simulated fleet's snapshots.
	start, err := s.resumeTime()
	if err != nil {
		return err
	}
	if haveSnap {
		start = latest(start, snap.Time)
		for _, ss := range snap.Sets {
			start = latest(start, ss.Time)
		}
	}
	switch opts.Clock {
	case "virtual":
		if start.IsZero() {
			start = clock.Epoch
		}
		s.virtual = clock.NewVirtual(start)
		s.clock = s.virtual
	case "real", "":
		if opts.WallNow == nil {
			return errors.New("a real clock needs WallNow")
		}
		now := opts.WallNow().UTC()
		if start.After(now) {
			now = start
		}
		s.clock = clock.NewScaled(now, opts.TimeScale)
	default:
		return fmt.Errorf("clock %q: want real or virtual", opts.Clock)
	}
	// Every write carries the clock's time: a restart resumes from the
	// newest, whatever the write (a publication, an accepted trigger).
	s.store.StampWrites(metaClock, s.clock.Now)
	// One data directory, one set of instances: a restarted server
	// reattaches to those it created before (where the backend keeps them
	// outside the process).
	opened, err := fb.Open(ctx, backend.Config{RunID: DockerRunID(opts.DataDir), Clock: s.clock, TimeScale: opts.TimeScale, Seed: opts.Seed, Progress: opts.Progress})
	if err != nil {
		return fmt.Errorf("%s fleet: %w", cmp.Or(opts.Fleet, DefaultFleet), err)
	}
	var inner orchestrator.Fleet
	simFleet, isSim := opened.(*sim.Fleet)
	if isSim {
		inner = &savedSim{Fleet: simFleet}
	} else {
		snap, haveSnap = sim.Snapshot{}, false
		inner = &savedBadVersions{Fleet: opened}
	}
	if s.fleet, err = newRecordingFleet(ctx, inner, s.store, s.clock); err != nil {
		return err
	}
	s.fleet.log = s.log()
	recs, err := s.store.LoadSets(ctx)
	if err != nil {
		return err
	}
	if simFleet != nil {
		// Records that decode can still disagree (an instance count that
		// is not the capacity, a format no build wrote): the file is as
		// damaged as if they did not decode.
		if err := s.restoreSim(simFleet, recs, snap, haveSnap); err != nil {
			return s.store.Damaged(kindSimFleet, simFleetKey, err)
		}
	}
	if err := s.fleet.restoreBadVersions(ctx); err != nil {
		return err
	}
	if err := s.fleet.restoreSwitches(ctx); err != nil {
		return err
	}
	if s.o, err = orchestrator.New(ctx, orchestrator.Options{Clock: s.clock, Fleet: s.fleet, Store: fleetFirstStore{Store: s.store, fleet: s.fleet}, Seed: opts.Seed}); err != nil {
		return err
	}
	s.metrics = metrics.New(s.o, s.fleet)
	if s.identity, err = openIdentity(opts.DataDir, opts.Token, opts.TokenLifetime, s.wallNow); err != nil {
		return err
	}
	s.handler = newHandler(s)
	return s.handler.load(ctx)
}

// restoreSim brings back the simulated fleet: from its snapshot, exactly,
// the sets the orchestrator holds; a set without one (a state.db written
// before snapshots were saved) booted and healthy on the versions the fleet
// log recorded.
func (s *Server) restoreSim(f *sim.Fleet, recs []*orchestrator.SetRecord, snap sim.Snapshot, haveSnap bool) error {
	held := map[string]bool{}
	if haveSnap {
		known := map[string]bool{}
		for _, r := range recs {
			known[r.Model.Name] = true
		}
		// A set the fleet created but the orchestrator never recorded
		// (killed in between) is not brought back; its index stays taken.
		snap.Sets = slices.DeleteFunc(snap.Sets, func(ss sim.SetSnapshot) bool { return !known[ss.Model.Name] })
		if err := f.Restore(snap); err != nil {
			return fmt.Errorf("restore the simulated fleet: %w", err)
		}
		for _, ss := range snap.Sets {
			held[ss.Model.Name] = true
		}
	}
	for _, r := range recs {
		if held[r.Model.Name] {
			continue
		}
		if err := f.RestoreBooted(r.Model, s.fleet.versions(r.Model.Name, r.Model.Capacity, r.Version)); err != nil {
			return fmt.Errorf("restore simulated scale set %s: %w", r.Model.Name, err)
		}
	}
	return nil
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (s *Server) resumeTime() (time.Time, error) {
	t, err := s.store.LastJournalTime()
	if err != nil {
		return t, err
	}
	b, ok, err := s.store.Meta(metaClock)
	if err != nil || !ok {
		return t, err
	}
	var c time.Time
	if err := c.UnmarshalText(b); err != nil {
		return t, s.store.Damaged("meta", metaClock, fmt.Errorf("stored clock: %w", err))
	}
	if c.After(t) {
		t = c
	}
	return t, nil
}

// Handler is the HTTP handler: ARM paths, /osupgrade/ and /metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// ServicePrincipal is the service principal clients sign in with.
func (s *Server) ServicePrincipal() ServicePrincipal { return s.identity.sp }

// Orchestrator is the server's orchestrator.
func (s *Server) Orchestrator() *orchestrator.Orchestrator { return s.o }

// Now is the server's clock.
func (s *Server) Now() time.Time { return s.clock.Now() }

// Run carries out rollouts until ctx ends. With a virtual clock every step
// happens inside a request (a change, or a clock move), so Run only waits.
func (s *Server) Run(ctx context.Context) error {
	if s.virtual != nil {
		<-ctx.Done()
		return ctx.Err()
	}
	err := s.o.Run(ctx, s.opts.Poll, func(err error) { s.log().Error("runner", "err", err) })
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Close commits the fleet's pending records and releases the state
// database.
func (s *Server) Close() error {
	return errors.Join(s.fleet.flush(context.Background()), s.store.Close())
}

// ErrClockNotVirtual is returned when a real clock is asked to move.
var ErrClockNotVirtual = errors.New("the clock is real; start the server with --clock virtual to move it")

// stepNow runs the due work at the current virtual time, so that a request
// that changed something sees its effect before it returns. With a real
// clock the runner was kicked and this does nothing.
func (s *Server) stepNow(ctx context.Context) {
	if s.virtual == nil {
		return
	}
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	if _, err := s.o.Step(ctx); err != nil {
		s.log().Error("step", "err", err)
	}
	if err := s.fleet.flush(ctx); err != nil {
		s.log().Error("step: save the fleet", "err", err)
	}
}

// AdvanceClock moves a virtual clock to t, event by event: every planner
// wake-up and fleet event on the way is stepped at its own time.
func (s *Server) AdvanceClock(ctx context.Context, t time.Time) (time.Time, error) {
	if s.virtual == nil {
		return s.clock.Now(), ErrClockNotVirtual
	}
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	for {
		next, err := s.o.Step(ctx)
		if err != nil {
			s.log().Error("step", "err", err)
		}
		now := s.virtual.Now()
		if !now.Before(t) {
			break
		}
		at := t
		if !next.IsZero() && next.Before(at) {
			at = next
		}
		if fe, ok := s.fleet.nextEvent(); ok && fe.Before(at) {
			at = fe
		}
		if !at.After(now) {
			// Something is due now and did not go away: do not spin.
			at = minTime(t, now.Add(time.Second))
		}
		s.virtual.Set(at)
		if err := ctx.Err(); err != nil {
			return s.virtual.Now(), err
		}
	}
	now := s.virtual.Now()
	if err := s.fleet.flush(ctx); err != nil {
		return now, err
	}
	b, _ := now.MarshalText()
	return now, s.store.SetMeta(metaClock, b)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// readJSONFile is used for stored documents.
func unmarshalDoc[T any](b []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
