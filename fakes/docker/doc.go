// Package docker is the fleet of containers standing in for VMs, through the
// Docker Engine API: OS disk = an image built FROM scratch with the agent
// (fakes/agent) and the OS version baked in; data disk = a named volume kept
// across reimage; one bridge network per scale set; labels on everything.
//
// It must never stop, change or remove a resource that does not carry its
// owner label (I-7), and it sends traffic only to its own containers on the
// networks it created and to the host's own listeners.
//
// # Constructor
//
//	f, err := docker.New(ctx, docker.Options{
//		RunID:       "",        // "" = random; reuse an id to reattach to its sets
//		TimeScale:   60,        // scenario seconds per wall second (0: the Clock's, else 60)
//		Clock:       scaled,    // the scenario clock (SAS expiry); nil: clock.NewScaled(clock.Epoch, TimeScale)
//		Concurrency: 8,         // parallel engine operations
//		Progress:    os.Stderr, // progress lines for long operations; nil: silent
//	})
//	if errors.Is(err, docker.ErrEngineUnavailable) { ... } // no engine: skip, or fail in CI
//	defer f.Clean(ctx) // removes this run's containers, volumes, networks
//
// *Fleet implements backend.Fleet (orchestrator/backend: provision,
// observe, reimage, Inject, SetBadVersion, DataDigests for I-4, Close), and
// registers itself as the backend "docker" (register.go), plus WatchFleet
// (backend.Watcher: the fleet-side journal), Foreign (backend.Inventory:
// I-7), PrepareImage (backend.ImagePreparer), Clean (backend.Cleaner) and
// WriteData/ReadData.
// CleanAll(ctx, progress) removes every resource of every run labelled
// osupgrade.owner=osupgrade, OS images included: that is `osupgrade clean`.
//
// The OS images are FROM scratch with osupgrade as the agent (`osupgrade
// agent`): Options.AgentBinary or OSUPGRADE_AGENT_BINARY when set, else the
// running executable when it is a statically linked osupgrade (its main
// calls ExecutableIsOsupgrade), else osupgrade built once per process with
// `go build` (CGO_ENABLED=0) when the working directory is in a checkout
// of this module; with none of them New fails with ErrNoAgentBinary, whose
// message gives the `CGO_ENABLED=0 go install …@<version>` to run. OS images are tagged osupgrade-os:<binary
// hash>-<content hash> and reused whenever present.
//
// # Labels
//
// Every container, volume and network: osupgrade.owner=osupgrade,
// osupgrade.run=<run id>, osupgrade.scale-set=<name>; containers and volumes
// also osupgrade.instance=<id>; containers osupgrade.zone,
// osupgrade.update-domain, osupgrade.os-version, osupgrade.image-ref.
// Images: osupgrade.owner, osupgrade.image-ref, osupgrade.os-version,
// osupgrade.agent and, for a bad version, osupgrade.bad.
//
// # Time
//
// The agents wait in wall time divided by TimeScale: at 60 the default
// 30 s boot takes 0.5 s and a 5 s probe interval ~83 ms. SAS tokens expire
// on the scenario Clock, checked by the storage endpoint in this process.
//
// # Health: push, and polling for older agents
//
// Every agent reports its state (booted, provisioning, each extension, the
// Application Health extension's state) to a collector on its set's
// endpoint, the one that serves the extensions' blobs on the network's
// gateway, on every change and as a heartbeat, as Azure's VM agent reports
// to its host; Observe lists the containers once and reads the collector.
// Reports carry the instance's token (an HMAC of set and instance under a
// key derived from the run id), so a container cannot report for another,
// and the boot they belong to, so that a replaced container's late report
// is refused. Heartbeats come every 5 s of scenario time, but at most 400
// reports a wall second across a set (200 instances: every 0.5 s); an
// agent unheard for 4 heartbeats plus 200 ms, and at least 1 s, of wall
// time (a container paused, killed, cut off or hung) is unreachable:
// Unknown, which counts as unhealthy (collector.go has the figures). health: probe still probes
// the app from the host, as a load balancer does. OS images built by an
// osupgrade before push health lack the osupgrade.agent-reports label:
// their agents are asked over HTTP (GET /status), as are all with
// Options.PollAgents or OSUPGRADE_AGENT_HEALTH=poll.
//
// # Limits
//
// Fault switch counters (down, app-unhealthy) live in the Fleet object; a
// reattached fleet recovers the switches the agents' configs carry and the
// paused state, not a down count. A version marked bad after its image was
// built gets a new image on its next use; running containers keep theirs.
package docker
