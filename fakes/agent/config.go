package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Where things live inside the container, relative to the agent's root.
const (
	// ImagePath is baked into the OS image: what the OS disk was made from.
	ImagePath = "etc/osupgrade/image.json"
	// ConfigPath is written by the fleet before every start of the
	// container: the scale set model, SAS URLs and fault switches.
	ConfigPath = "etc/osupgrade/agent.json"
	// StatusPath is the agent's last reported status, kept in the writable
	// layer so that a stopped or paused container can still be read.
	StatusPath = "var/lib/osupgrade/status.json"
	// CustomDataMarker records that custom data ran on this OS disk.
	CustomDataMarker = "var/lib/osupgrade/custom-data.done"
	// CustomDataPath is where custom data is delivered, as on Azure.
	CustomDataPath = "var/lib/waagent/CustomData"
	// LinkReadyPath is written by the fleet once it has put a start's
	// network faults on the container's link (see Config.LinkFaults).
	LinkReadyPath = "etc/osupgrade/link-ready"
	// ExtensionDir holds what extensions downloaded.
	ExtensionDir = "var/lib/osupgrade/extensions"
	// DataDir is where the first data disk is mounted.
	DataDir = "data"
)

// ConfigEnv carries the config of a container's first start: set when the
// container is created, it spares a reimage the engine's archive upload
// (a mount of the container's root on fuse-overlayfs, a fifth of the
// engine's time per reimage here). A file at ConfigPath, written before a
// later start, takes precedence.
const ConfigEnv = "OSUPGRADE_AGENT_CONFIG"

// LinkReady is LinkReadyPath's content once the link is set up; the fleet
// writes an empty file with the config before a restart.
const LinkReady = "ready"

// ControlPort is the agent's status and control endpoint (the port Azure's
// WireServer health endpoint uses).
const ControlPort = 32526

// DefaultAppPort is the app's port when the model names none.
const DefaultAppPort = 8080

// Image is what an OS image version holds about itself.
type Image struct {
	Ref     string        `json:"ref"`
	Version string        `json:"version"`
	Bad     fault.BadKind `json:"bad,omitempty"`
}

// Config is the instance's view of its scale set, written by the fleet.
type Config struct {
	Set      string `json:"set"`
	Instance int    `json:"instance"`
	// TimeScale divides every scenario duration the agent waits for (boot
	// time, probe interval, grace period, flap period): at 60 a 5 s probe
	// interval is ~83 ms of wall time.
	TimeScale float64               `json:"timeScale"`
	Model     orchestrator.ScaleSet `json:"model"`
	// BootFrom is when, in wall time, the platform began the reimage that
	// made this OS disk: the boot time counts from there, as on the sim, so
	// that the engine's own work is part of it. Honoured on the disk's first
	// start only; zero: the boot counts from the agent's start.
	BootFrom time.Time `json:"bootFrom,omitzero"`
	// LinkFaults: the fleet puts network faults (slow link, loss, ...) on
	// the container's link once it has started, and writes LinkReady into
	// LinkReadyPath when they are on: the agent waits for it before it
	// uses the network, so that no download slips through first.
	LinkFaults bool `json:"linkFaults,omitempty"`
	// ExtensionURLs are the blob URLs, SAS included, of the payload each
	// extension downloads at boot, by extension name.
	ExtensionURLs map[string]string `json:"extensionUrls,omitempty"`
	Faults        Faults            `json:"faults"`
	// Report is where the agent pushes its state (push health); nil: it
	// only answers GET /status, as agents before push health did.
	Report *Report `json:"report,omitempty"`
}

// Faults are the fault switches the agent obeys (fault.Switch kinds that are
// not done by the engine: down and pause are).
type Faults struct {
	AppUnhealthy     bool          `json:"appUnhealthy,omitempty"`
	Lie              bool          `json:"lie,omitempty"`
	FlapPeriod       time.Duration `json:"flapPeriod,omitempty"` // scenario time; 0: off
	SlowBoot         time.Duration `json:"slowBoot,omitempty"`   // scenario time added to boots
	ExtensionFailure bool          `json:"extensionFailure,omitempty"`
}

// ExtensionStatus is one extension's outcome on this boot.
type ExtensionStatus struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Status  string `json:"status"` // transitioning | success | error | skipped
	Message string `json:"message,omitempty"`
}

// Extension status values.
const (
	ExtTransitioning = "transitioning"
	ExtSuccess       = "success"
	ExtError         = "error"
	ExtSkipped       = "skipped"
)

// Status is what the agent reports at GET /status.
type Status struct {
	Set          string            `json:"set"`
	Instance     int               `json:"instance"`
	Image        Image             `json:"image"`
	Booted       bool              `json:"booted"`
	Provisioning plan.Provisioning `json:"provisioning"`
	Extensions   []ExtensionStatus `json:"extensions,omitempty"`
	// Health is the Application Health extension's state.
	Health plan.Health `json:"health"`
	// AppHealthy is what the app itself would answer right now.
	AppHealthy bool `json:"appHealthy"`
	// CustomDataRan says custom data ran on this boot; CustomDataRuns
	// counts its runs on this OS disk (never more than one).
	CustomDataRan  bool   `json:"customDataRan"`
	CustomDataRuns int    `json:"customDataRuns"`
	Faults         Faults `json:"faults"`
}

// ReadConfig reads the config at path or, when there is no file there,
// from env (ConfigEnv's value).
func ReadConfig(path, env string, cfg *Config) error {
	err := ReadJSON(path, cfg)
	if !errors.Is(err, fs.ErrNotExist) || env == "" {
		return err
	}
	if err := json.Unmarshal([]byte(env), cfg); err != nil {
		return fmt.Errorf("%s: %w", ConfigEnv, err)
	}
	return nil
}

// ReadJSON reads a JSON file into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeFileAtomic replaces path's content in one rename.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
