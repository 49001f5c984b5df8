// Package swarmlab starts and stops a real multi-node Docker Swarm on one
// Linux machine, for tests and CI of the Swarm fleet: each node is a dockerd
// in its own network namespace with its own data and exec roots, linked to
// the host by a veth on a bridge the lab creates, the nodes joined into one
// swarm (the manager on node 1) and labelled osupgrade.zone=1, 2, 3.
//
// It must touch nothing it did not create: not the host's own engine, not
// its swarm, not other bridges or namespaces. Down removes everything Up
// made (processes, mounts, namespaces, veths, the bridge, routes, cgroups,
// data), read back from the lab's state file and from the fixed names.
// It needs root and Linux.
package swarmlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Fixed names and addresses: the lab is one per machine, and Down finds
// what a failed Up left by these names even without the state file.
const (
	// BridgeName is the host bridge the nodes' veths are enslaved to.
	BridgeName = "osw-br0"
	// HostAddr is the host's address on the bridge: the nodes' gateway,
	// and where a fleet in the host serves its agents' collector.
	HostAddr   = "10.231.0.1"
	linkPrefix = 24
	// ZoneLabel is the node label the Swarm fleet places instances by.
	ZoneLabel = "osupgrade.zone"
	// EngineLabel is the node label naming the node's own engine
	// (DOCKER_HOST form): the Swarm fleet loads images and acts on
	// containers through it.
	EngineLabel = "osupgrade.engine"
	// LabLabel marks the nodes (engine label) as the lab's.
	LabLabel = "osupgrade.swarmlab"
	// swarmPool is the overlay networks' address pool, apart from the
	// host's and the nodes' local networks.
	swarmPool = "10.240.0.0/16"
	stateFile = "lab.json"
)

// Node is one engine node of the lab.
type Node struct {
	Index    int    `json:"index"` // 1-based
	Zone     string `json:"zone"`
	NetNS    string `json:"netns"`    // named namespace, /var/run/netns/<NetNS>
	HostVeth string `json:"hostVeth"` // host end on the bridge
	Addr     string `json:"addr"`     // the node's address on the bridge (advertise address)
	// LocalPool is the node's local address pool (docker0, docker_gwbridge,
	// bridge networks), distinct per node so that the host can route to
	// each node's containers.
	LocalPool string `json:"localPool"`
	Socket    string `json:"socket"`
	DataRoot  string `json:"dataRoot"`
	ExecRoot  string `json:"execRoot"`
	PidFile   string `json:"pidFile"`
	LogFile   string `json:"logFile"`
	Cgroup    string `json:"cgroup"`
	NodeID    string `json:"nodeID,omitempty"` // swarm node id
}

// Host is the DOCKER_HOST value of the node's engine.
func (n Node) Host() string { return "unix://" + n.Socket }

// Lab is a running lab, as its state file records it.
type Lab struct {
	Dir   string `json:"dir"`
	Nodes []Node `json:"nodes"`
	// Started is when Up finished, SetupSeconds how long it took.
	Started      time.Time `json:"started"`
	SetupSeconds float64   `json:"setupSeconds"`
}

// Manager is the manager node (node 1).
func (l *Lab) Manager() Node { return l.Nodes[0] }

func nodeName(i int) string { return "osw-n" + strconv.Itoa(i) }

// plan lays out n nodes under dir.
func plan(dir string, n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		k := i + 1
		nd := filepath.Join(dir, nodeName(k))
		nodes[i] = Node{
			Index: k, Zone: strconv.Itoa(k), NetNS: nodeName(k), HostVeth: nodeName(k) + "h",
			Addr:      fmt.Sprintf("10.231.0.%d", 10+k),
			LocalPool: fmt.Sprintf("10.%d.0.0/16", 231+k),
			Socket:    filepath.Join(nd, "docker.sock"), DataRoot: filepath.Join(nd, "data"), ExecRoot: filepath.Join(nd, "exec"),
			PidFile: filepath.Join(nd, "dockerd.pid"), LogFile: filepath.Join(nd, "dockerd.log"), Cgroup: "/" + nodeName(k),
		}
	}
	return nodes
}

// Load reads the state of a lab started in dir.
func Load(dir string) (*Lab, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("swarmlab: no lab in %s: %w", dir, err)
	}
	var l Lab
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("swarmlab: %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &l, nil
}

func (l *Lab) save() error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.Dir, stateFile), b, 0o644)
}

// Up starts a lab of n nodes (1..9) under dir, which must be short (the
// engines' sockets live under it; a unix socket path holds 107 bytes) and
// must not hold a lab already. On failure everything made so far is taken
// down again.
func Up(ctx context.Context, dir string, n int, log io.Writer) (lab *Lab, err error) {
	if n < 1 || n > 9 {
		return nil, fmt.Errorf("swarmlab: nodes: %d, want 1 to 9", n)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if len(dir) > 60 {
		return nil, fmt.Errorf("swarmlab: dir %s is longer than 60 bytes: the engines' sockets under it would not fit a unix socket path", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		return nil, fmt.Errorf("swarmlab: %s holds a lab already: `osupgrade swarm down --dir %s` first", dir, dir)
	}
	if _, err := netlink.LinkByName(BridgeName); err == nil {
		return nil, fmt.Errorf("swarmlab: bridge %s exists: a lab runs already (or a failed one left it: `osupgrade swarm down`)", BridgeName)
	}
	start := time.Now()
	lab = &Lab{Dir: dir, Nodes: plan(dir, n)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if derr := Down(context.WithoutCancel(ctx), dir, log); derr != nil {
				err = errors.Join(err, fmt.Errorf("swarmlab: taking down the failed lab: %w", derr))
			}
		}
	}()
	if err := lab.save(); err != nil {
		return lab, err
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.json"), []byte("{}\n"), 0o644); err != nil {
		return lab, err
	}
	br, err := makeBridge()
	if err != nil {
		return lab, err
	}
	if err := hostForward(ctx, true); err != nil {
		return lab, err
	}
	for i := range lab.Nodes {
		nd := &lab.Nodes[i]
		if err := makeNodeNet(nd, br); err != nil {
			return lab, fmt.Errorf("swarmlab: network of node %d: %w", nd.Index, err)
		}
	}
	logf(log, "network: bridge %s %s/%d, %d namespaces (%s)", BridgeName, HostAddr, linkPrefix, n, time.Since(start).Round(time.Millisecond))
	// The engines start in parallel: most of a start is dockerd's own.
	errc := make(chan error, n)
	for i := range lab.Nodes {
		go func(nd Node) { errc <- startEngine(ctx, dir, nd) }(lab.Nodes[i])
	}
	var errs []error
	for range lab.Nodes {
		errs = append(errs, <-errc)
	}
	if err := errors.Join(errs...); err != nil {
		return lab, err
	}
	logf(log, "engines: %d dockerd answering (%s)", n, time.Since(start).Round(time.Millisecond))
	for i := range lab.Nodes {
		if err := allowHost(ctx, lab.Nodes[i]); err != nil {
			return lab, err
		}
	}
	if err := formSwarm(ctx, lab); err != nil {
		return lab, err
	}
	lab.Started = time.Now()
	lab.SetupSeconds = time.Since(start).Seconds()
	logf(log, "swarm: %d nodes, manager %s (%s)", n, lab.Manager().Host(), time.Since(start).Round(time.Millisecond))
	return lab, lab.save()
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "swarmlab: "+format+"\n", args...)
	}
}

// makeBridge creates the host bridge with the host's address on it.
func makeBridge() (netlink.Link, error) {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName, MTU: 1500}}
	if err := netlink.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("swarmlab: create bridge %s: %w", BridgeName, err)
	}
	addr, err := netlink.ParseAddr(fmt.Sprintf("%s/%d", HostAddr, linkPrefix))
	if err != nil {
		return nil, err
	}
	if err := netlink.AddrAdd(br, addr); err != nil {
		return nil, fmt.Errorf("swarmlab: address of %s: %w", BridgeName, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("swarmlab: bring %s up: %w", BridgeName, err)
	}
	return netlink.LinkByName(BridgeName)
}

// newNamedNS creates a named network namespace without leaving the calling
// thread in it (netns.NewNamed switches the thread).
func newNamedNS(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// The thread stays in the new namespace: it must not be reused.
		return 0, errors.Join(err, fmt.Errorf("return to the host namespace: %w", serr))
	}
	return ns, err
}

// makeNodeNet creates the node's namespace and its veth: the host end on
// the bridge, the node end with the node's address and a default route
// through the host.
func makeNodeNet(nd *Node, br netlink.Link) error {
	ns, err := newNamedNS(nd.NetNS)
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", nd.NetNS, err)
	}
	defer ns.Close()
	peer := nd.NetNS + "n"
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nd.HostVeth, MasterIndex: br.Attrs().Index, MTU: 1500}, PeerName: peer, PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", nd.HostVeth, err)
	}
	host, err := netlink.LinkByName(nd.HostVeth)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return err
	}
	in, err := h.LinkByName(peer)
	if err != nil {
		return err
	}
	// eth0 inside: what a node's interface is called on a machine.
	if err := h.LinkSetName(in, "eth0"); err != nil {
		return err
	}
	addr, err := netlink.ParseAddr(fmt.Sprintf("%s/%d", nd.Addr, linkPrefix))
	if err != nil {
		return err
	}
	if err := h.AddrAdd(in, addr); err != nil {
		return err
	}
	if err := h.LinkSetUp(in); err != nil {
		return err
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: in.Attrs().Index, Gw: net.ParseIP(HostAddr)}); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	// The host reaches the node's containers (docker_gwbridge) through the
	// node: the fleet's probes and agent control calls.
	_, pool, err := net.ParseCIDR(nd.LocalPool)
	if err != nil {
		return err
	}
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: br.Attrs().Index, Dst: pool, Gw: net.ParseIP(nd.Addr)}); err != nil {
		return fmt.Errorf("route to %s: %w", nd.LocalPool, err)
	}
	return nil
}

// startEngine starts the node's dockerd in its namespace with nsenter
// --net (not `ip netns exec`, which remounts /sys and loses the cgroup v1
// mounts dockerd needs), its own roots and an empty config file (the
// host's daemon.json sets data-root, which as a flag too is an error), and
// waits until it answers.
func startEngine(ctx context.Context, dir string, nd Node) error {
	for _, d := range []string{nd.DataRoot, nd.ExecRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(nd.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	pool, err := netip(nd.LocalPool)
	if err != nil {
		return err
	}
	args := []string{"--net=/var/run/netns/" + nd.NetNS, "dockerd",
		"--config-file", filepath.Join(dir, "empty.json"),
		"--data-root", nd.DataRoot, "--exec-root", nd.ExecRoot, "--pidfile", nd.PidFile,
		"-H", nd.Host(), "--storage-driver", "fuse-overlayfs", "--cgroup-parent", nd.Cgroup,
		"--bip", pool + ".1/24",
		"--default-address-pool", "base=" + nd.LocalPool + ",size=24",
		"--label", LabLabel + "=" + nd.NetNS, "--label", ZoneLabel + "=" + nd.Zone,
		"--log-opt", "max-size=256k", "--log-opt", "max-file=1",
	}
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A task's image is loaded on the node, never pulled (there is no
	// registry): without this the engine tries to pull it first at every
	// task start and falls back to the local one after the attempt fails.
	cmd.Env = append(os.Environ(), "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1")
	// Its own session: a signal to the process that ran Up (Ctrl-C of
	// `swarm up`) is not the engine's; Down stops it by its pidfile.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("swarmlab: start dockerd of node %d: %w", nd.Index, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	cli, err := client.NewClientWithOpts(client.WithHost(nd.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := cli.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("swarmlab: dockerd of node %d exited (%v); its log: %s", nd.Index, werr, tail(nd.LogFile))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("swarmlab: dockerd of node %d does not answer after 60 s; its log: %s", nd.Index, tail(nd.LogFile))
		}
	}
}

// netip is the first three octets of a /16 pool's first /24: "10.232.0".
func netip(pool string) (string, error) {
	ip, _, err := net.ParseCIDR(pool)
	if err != nil {
		return "", err
	}
	v4 := ip.To4()
	return fmt.Sprintf("%d.%d.%d", v4[0], v4[1], v4[2]), nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// forwardRule is the host's FORWARD rule that lets the nodes talk to each
// other across the bridge: with br_netfilter loaded (bridge-nf-call-iptables
// = 1, as the host's dockerd leaves it) bridged frames go through the host's
// FORWARD chain, whose policy the host's dockerd sets to DROP.
var forwardRule = []string{"FORWARD", "-i", BridgeName, "-o", BridgeName, "-m", "comment", "--comment", "osupgrade swarmlab", "-j", "ACCEPT"}

// hostForward inserts (add) or deletes every copy of forwardRule.
func hostForward(ctx context.Context, add bool) error {
	if add {
		out, err := exec.CommandContext(ctx, "iptables", append([]string{"-I"}, forwardRule...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("swarmlab: host FORWARD rule for %s: %v: %s", BridgeName, err, out)
		}
		return nil
	}
	for range 10 {
		if exec.CommandContext(ctx, "iptables", append([]string{"-D"}, forwardRule...)...).Run() != nil {
			return nil // none left
		}
	}
	return fmt.Errorf("swarmlab: the host FORWARD rule for %s is still there after 10 deletions", BridgeName)
}

// allowHost lets the host's own address through the node's FORWARD chain
// to its containers (dockerd sets the chain's policy to DROP and admits
// only published ports): DOCKER-USER is the chain dockerd leaves to users.
func allowHost(ctx context.Context, nd Node) error {
	out, err := exec.CommandContext(ctx, "nsenter", "--net=/var/run/netns/"+nd.NetNS,
		"iptables", "-I", "DOCKER-USER", "-s", HostAddr+"/32", "-j", "ACCEPT").CombinedOutput()
	if err != nil {
		return fmt.Errorf("swarmlab: admit the host to node %d's containers (iptables): %v: %s", nd.Index, err, out)
	}
	return nil
}

// formSwarm initialises the swarm on node 1 and joins the others as
// workers, then labels every node with its zone.
func formSwarm(ctx context.Context, lab *Lab) error {
	mgr := lab.Manager()
	mcli, err := client.NewClientWithOpts(client.WithHost(mgr.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer mcli.Close()
	id, err := mcli.SwarmInit(ctx, swarm.InitRequest{
		ListenAddr: "0.0.0.0:2377", AdvertiseAddr: mgr.Addr,
		DefaultAddrPool: []string{swarmPool}, SubnetSize: 24,
	})
	if err != nil {
		return fmt.Errorf("swarmlab: swarm init on node 1: %w", err)
	}
	lab.Nodes[0].NodeID = id
	sw, err := mcli.SwarmInspect(ctx)
	if err != nil {
		return err
	}
	for i := 1; i < len(lab.Nodes); i++ {
		nd := &lab.Nodes[i]
		cli, err := client.NewClientWithOpts(client.WithHost(nd.Host()), client.WithAPIVersionNegotiation())
		if err != nil {
			return err
		}
		err = cli.SwarmJoin(ctx, swarm.JoinRequest{ListenAddr: "0.0.0.0:2377", AdvertiseAddr: nd.Addr, RemoteAddrs: []string{mgr.Addr + ":2377"}, JoinToken: sw.JoinTokens.Worker})
		if err == nil {
			var info system.Info
			if info, err = cli.Info(ctx); err == nil {
				nd.NodeID = info.Swarm.NodeID
			}
		}
		cli.Close()
		if err != nil {
			return fmt.Errorf("swarmlab: node %d joins: %w", nd.Index, err)
		}
	}
	for _, nd := range lab.Nodes {
		if err := labelNode(ctx, mcli, nd.NodeID, map[string]string{ZoneLabel: nd.Zone, EngineLabel: nd.Host()}); err != nil {
			return fmt.Errorf("swarmlab: label node %d: %w", nd.Index, err)
		}
	}
	return nil
}

// labelNode sets osupgrade.zone and osupgrade.engine on a node through the manager, retrying
// while the manager has not yet seen a node that just joined.
func labelNode(ctx context.Context, cli *client.Client, id string, labels map[string]string) error {
	var last error
	for attempt := 0; attempt < 50; attempt++ {
		n, _, err := cli.NodeInspectWithRaw(ctx, id)
		if err == nil {
			spec := n.Spec
			if spec.Labels == nil {
				spec.Labels = map[string]string{}
			}
			maps.Copy(spec.Labels, labels)
			if err = cli.NodeUpdate(ctx, id, n.Version, spec); err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return last
}

// Down stops the lab in dir and removes everything of it: the engines (by
// their pidfiles, SIGTERM then SIGKILL) and whatever processes still run
// from its roots, its mounts, namespaces, veths, the bridge (with its
// routes), the engines' cgroups and dir. What is already gone is skipped:
// Down after a failed Up, or twice, is fine.
func Down(ctx context.Context, dir string, log io.Writer) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	nodes := plan(dir, 9)
	if l, err := Load(dir); err == nil {
		nodes = l.Nodes
	}
	var errs []error
	start := time.Now()
	for _, nd := range nodes {
		stopEngine(nd)
	}
	// Shims and containers an engine left (SIGKILLed, or slow to stop its
	// children): anything still running from the lab's roots.
	killUnder(dir)
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	for _, nd := range nodes {
		if l, err := netlink.LinkByName(nd.HostVeth); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("delete veth %s: %w", nd.HostVeth, err))
			}
		}
		if _, err := os.Stat("/var/run/netns/" + nd.NetNS); err == nil {
			if err := netns.DeleteNamed(nd.NetNS); err != nil {
				errs = append(errs, fmt.Errorf("delete namespace %s: %w", nd.NetNS, err))
			}
		}
		removeCgroups(nd.Cgroup)
	}
	// The directory netns made for its bind mounts, when nothing else
	// uses it (Remove refuses a directory that is not empty).
	_ = os.Remove("/var/run/netns")
	if err := hostForward(ctx, false); err != nil {
		errs = append(errs, err)
	}
	if l, err := netlink.LinkByName(BridgeName); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w", BridgeName, err))
		}
	}
	if _, err := os.Stat(dir); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		}
	}
	logf(log, "down in %s", time.Since(start).Round(time.Millisecond))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("swarmlab: down: %w", err)
	}
	return nil
}

// stopEngine stops a node's dockerd: SIGTERM, up to 30 s for it to stop
// its containers, then SIGKILL.
func stopEngine(nd Node) {
	b, err := os.ReadFile(nd.PidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || !isDockerd(pid, nd.PidFile) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 300 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
}

// isDockerd checks that pid is the dockerd of that pidfile, not a process
// that took a stale pid.
func isDockerd(pid int, pidFile string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), pidFile)
}

// killUnder SIGKILLs processes whose command line names a path under dir
// (containerd, shims of a lab engine); nothing else is matched.
func killUnder(dir string) {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), dir+"/") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder detaches every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		if err := syscall.Unmount(points[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", points[i], err))
		}
	}
	return errors.Join(errs...)
}

// removeCgroups removes the node engine's cgroup parent in every v1
// hierarchy (and v2), children first; a cgroup still in use stays.
func removeCgroups(parent string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		p := filepath.Join(r, parent)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(dirs[i])
		}
	}
}

// Usage is the memory of the lab's engines: dockerd and its containerd
// per node, resident set sizes in bytes (containers not included).
type Usage struct {
	Node       int   `json:"node"`
	Dockerd    int64 `json:"dockerdRSS"`
	Containerd int64 `json:"containerdRSS"`
}

// Memory reads the resident set of each node's dockerd and the containerd
// it started (its child).
func (l *Lab) Memory() ([]Usage, error) {
	var out []Usage
	for _, nd := range l.Nodes {
		b, err := os.ReadFile(nd.PidFile)
		if err != nil {
			return nil, err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, err
		}
		u := Usage{Node: nd.Index, Dockerd: rss(pid)}
		for _, c := range children(pid) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); strings.TrimSpace(string(comm)) == "containerd" {
				u.Containerd += rss(c)
			}
		}
		out = append(out, u)
	}
	return out, nil
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}
