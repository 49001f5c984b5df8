// Package backend is the one contract a fleet backend keeps (the machines
// standing in for VMs: the simulator, containers on a Docker engine, ...) and
// the registry through which binaries and tests choose one by name.
//
// It must not import a backend: each backend registers itself from an init
// function (as database/sql drivers do), and a program links the backends it
// offers with blank imports in one place. Everything a caller may need to
// know about a backend is in this file: the required Fleet, the optional
// capabilities (each a named interface, found by type assertion), and the
// properties a Factory declares. A caller decides by capability or property,
// never by comparing a backend's name.
package backend

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Fleet is what every backend must do. Instances are numbered 0..capacity-1
// within a scale set; every method is safe for concurrent use.
type Fleet interface {
	// CreateScaleSet provisions model.Capacity instances running version,
	// booted: placed by model.Placement (zone, update domain), each with
	// model.DataDisks data disks.
	CreateScaleSet(ctx context.Context, model orchestrator.ScaleSet, version string) error
	// UpdateModel takes a model change (extensions, custom data, SAS
	// expiry) for the instances' next boots.
	UpdateModel(ctx context.Context, model orchestrator.ScaleSet) error
	// DeleteScaleSet removes a scale set and its instances.
	DeleteScaleSet(ctx context.Context, name string) error

	// Observe returns every instance of the set in ID order
	// (instances[i].ID == i). The slice is the caller's until the next call.
	Observe(ctx context.Context, set string) ([]plan.Instance, error)
	// Reimage replaces the instance's OS disk with one from image, keeps
	// its data disks and re-applies the set's extensions and custom data
	// (R-UPG-1). A rollback is a reimage to the previous version: there is
	// no other rollback call.
	Reimage(ctx context.Context, set string, id int, image plan.Image) error

	// Inject turns a fault switch on or off on instances of a set: faults
	// are named by fault.Kind, the scenario vocabulary. A switch the
	// backend cannot apply honestly returns fault.ErrUnsupported.
	Inject(ctx context.Context, set string, ids []int, s fault.Switch) error
	BadVersions

	// DataDigests checksums each instance's data disks, by instance ID
	// (I-4: a reimage or rollback keeps every byte).
	DataDigests(ctx context.Context, set string) ([]uint64, error)

	// Close releases this handle; the instances stay (Factory.Open with
	// the same Config.RunID reattaches to them, where the backend keeps
	// anything outside the process). Removing them is Cleaner's.
	Close() error
}

// BadVersions is the part of Fleet that builds bad images.
type BadVersions interface {
	// SetBadVersion makes an image version misbehave on every later boot
	// (a scenario's `bad:`); fault.BadKindNone makes it good again.
	SetBadVersion(version string, kind fault.BadKind)
}

// Every backend is a fleet the orchestrator can drive and provision.
var (
	_ orchestrator.Fleet       = Fleet(nil)
	_ orchestrator.Provisioner = Fleet(nil)
	_ fault.Injector           = Fleet(nil)
)

// The optional capabilities. A caller asserts for one where it needs it and
// says plainly what it does without (fault.ErrUnsupported, "not checked").

// ChangeFeed is a backend that knows which sets changed since it was last
// asked: the orchestrator then observes a set only when it changed or its
// planner asked to be woken. Same as orchestrator.ChangeFeed, declared here
// so that the contract is read in one place.
type ChangeFeed interface {
	ChangedSets() (sets []string, all bool)
}

var _ orchestrator.ChangeFeed = ChangeFeed(nil)

// Scheduled is a backend on a virtual clock (Factory.Clock == VirtualClock)
// whose state changes by itself only at times it knows: a boot ending, a
// grace period ending, a flap. NextEvent is the earliest such time still to
// come; ok false: none is pending, and nothing changes until the backend is
// called. The caller moves its clock from event to event.
type Scheduled interface {
	NextEvent() (t time.Time, ok bool)
}

// Journal hears every change a Recorder makes, when it makes it: the
// harness's record of what the fleet did, independent of what the
// orchestrator observed.
type Journal interface {
	// Reimaged: the instance's OS disk was replaced by one of version; its
	// boot begins.
	Reimaged(at time.Time, set string, id int, version string)
	// Reported: what the instance reports (running, provisioning, health,
	// version) changed to in.
	Reported(at time.Time, set string, in plan.Instance)
}

// Recorder is a backend that tells a Journal of its changes from inside its
// own calls, synchronously (the simulator, with its lock held: the Journal
// must not call back into the fleet). Call Record before the fleet is used.
type Recorder interface {
	Record(j Journal)
}

// Watcher is a backend whose changes happen outside the caller's process
// (the engine's events and container inspection on Docker). WatchFleet
// reports every change until stop is called: reimaged true when the
// instance's OS disk was just replaced (in.Version the new version), else
// the instance's report changed. Times are on the scenario clock; report
// may be called from any goroutine.
type Watcher interface {
	WatchFleet(ctx context.Context, report func(at time.Time, set string, in plan.Instance, reimaged bool)) (stop func(), err error)
}

// SetLister is a backend that lists the scale sets it holds (I-7: nothing
// is left that the run did not ask for).
type SetLister interface {
	Sets() []string
}

// Inventory is a backend on a shared machine that can list what it did not
// create (I-7): containers, networks, volumes and images without the run's
// labels. The caller compares a listing taken before a run with one taken
// after.
type Inventory interface {
	Foreign(ctx context.Context) ([]string, error)
	// Addressed reports whether the backend's own client asked for a
	// change to the object of one Foreign line: the engine is shared, and
	// an object someone else removed meanwhile is not the run's doing.
	Addressed(line string) bool
}

// ImagePreparer is a backend that builds a version's OS image ahead of its
// first reimage, so that the build does not count against a batch's wait.
type ImagePreparer interface {
	PrepareImage(ctx context.Context, img plan.Image) error
}

// Cleaner is a backend whose instances outlive the process: Clean removes
// every resource of its run (labelled as its own), nothing else.
type Cleaner interface {
	Clean(ctx context.Context) error
}

// DataResetBug is a backend that can plant a bug for the invariant
// checker's self-test: a reimage replaces the data disks too. Test-only;
// no flag, scenario field or API reaches it.
type DataResetBug interface {
	ResetDataOnReimage(on bool)
}

// ClockKind is the clock a backend runs on.
type ClockKind int

const (
	// VirtualClock: time moves only when the caller sets it, and the
	// backend changes only inside its calls or at its NextEvent (it is
	// Scheduled). Runs are deterministic and take no wall time.
	VirtualClock ClockKind = iota
	// WallClock: a scaled wall clock (Config.TimeScale scenario seconds a
	// second); the backend's instances are real processes that change on
	// their own, observed by polling or watched (Watcher).
	WallClock
)

func (k ClockKind) String() string {
	if k == WallClock {
		return "wall"
	}
	return "virtual"
}

// Config is what a backend is opened with.
type Config struct {
	// RunID names and labels the run's resources so that parallel runs do
	// not collide; opening with an existing run's ID reattaches to its
	// scale sets. A backend with nothing outside the process ignores it.
	RunID string
	// Clock is the scenario clock: a *clock.Virtual for a VirtualClock
	// backend (the caller moves it), a *clock.Scaled for a WallClock one.
	Clock orchestrator.Clock
	// TimeScale is the WallClock's scenario seconds per wall second.
	TimeScale float64
	// Seed fixes the data disks' initial contents (and any other draw).
	Seed uint64
	// Concurrency bounds the backend's parallel engine operations; 0: its
	// default.
	Concurrency int
	// Progress receives a line per step of long set-up work; nil: silent.
	Progress io.Writer
}

// Factory is one registered backend: its properties and how to open it.
type Factory struct {
	// Clock is the clock the backend runs on; the caller makes it.
	Clock ClockKind
	// Open makes a fleet.
	Open func(ctx context.Context, c Config) (Fleet, error)
	// Available says whether the backend can run here now (the Docker
	// engine answers); nil: always.
	Available func(ctx context.Context) error
	// ReimageConcurrency is how many reimages the orchestrator should run
	// at once on it; 0: one at a time.
	ReimageConcurrency func() int
	// JournalSlack is how far the backend's timestamps may trail the
	// orchestrator's decisions (a watched engine's events arrive late);
	// the journal's 5-minute upgrade wait is shortened by it.
	JournalSlack time.Duration
	// KernelNetwork: network faults act on a real kernel link (tc netem,
	// TBF), so a scenario's latency needs sch_netem on this machine.
	KernelNetwork bool
	// MaxInstances bounds the instances of one run that the backend takes
	// in reasonable time on this machine, for `run --fleet auto`; 0: no
	// bound.
	MaxInstances int
}

// DefaultFleet is the backend a program runs on when told none: the
// simulator, which every build links.
const DefaultFleet = "sim"

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a backend available by name. It panics when name is empty,
// taken, or f has no Open: registration happens at init, and a clash is a
// programming error.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || f.Open == nil {
		panic("backend: Register needs a name and an Open function")
	}
	if _, dup := factories[name]; dup {
		panic("backend: Register called twice for " + name)
	}
	factories[name] = f
}

// Lookup returns the backend registered as name; the error lists the
// registered names.
func Lookup(name string) (Factory, error) {
	mu.RLock()
	f, ok := factories[name]
	mu.RUnlock()
	if !ok {
		return Factory{}, &UnknownError{Name: name, Registered: Names()}
	}
	return f, nil
}

// Names lists the registered backends, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// List is Names joined for flag help and messages: "docker, sim".
func List() string { return strings.Join(Names(), ", ") }

// UnknownError is Lookup's error for a name nothing registered.
type UnknownError struct {
	Name       string
	Registered []string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown fleet %q: registered: %s", e.Name, strings.Join(e.Registered, ", "))
}
