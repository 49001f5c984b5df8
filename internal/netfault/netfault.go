// Package netfault breaks one container's network from the host, for the
// harness's network faults: link down (partition), a TBF rate limit
// (slow-link), random drop with nftables in the container's network
// namespace (loss), netem delay where the kernel has sch_netem (latency).
//
// It must touch nothing but the container's host-side veth and its own
// nftables table inside the container's namespace. It needs root
// (CAP_NET_ADMIN) and Linux.
package netfault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/osupgrade/osupgrade/fakes/fault"
)

// ProbeBytes is the size of a health probe's exchange: latency with kind
// tbf shapes the link so that these bytes take the asked delay.
const ProbeBytes = 512

// ErrNoNetem: the kernel cannot delay packets with netem.
var ErrNoNetem = errors.New("this kernel has no sch_netem (netem qdisc)")

// TableName is the nftables table loss creates in the container's namespace.
const TableName = "osupgrade_loss"

// NetemAvailable reports whether sch_netem is loaded, built in, or
// loadable on the running kernel; the error says where it looked.
func NetemAvailable() error {
	if _, err := os.Stat("/sys/module/sch_netem"); err == nil {
		return nil
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return fmt.Errorf("%w: uname: %v", ErrNoNetem, err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	dir := filepath.Join("/lib/modules", rel)
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil && strings.Contains(string(b), "sch_netem.ko") {
		return nil
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.dep")); err == nil && strings.Contains(string(b), "sch_netem.ko") {
		return nil
	}
	return fmt.Errorf("%w: not in /sys/module, nor in %s/modules.builtin or modules.dep (kernel %s)", ErrNoNetem, dir, rel)
}

// Undo ends a fault.
type Undo func() error

// Apply carries out a network switch (fault.Partition, SlowLink, Loss,
// Latency) on the container whose init process is pid: what a Docker
// fleet's fault.Injector calls for network kinds. The PID and the veth
// change on every container restart: look the PID up again each time.
func Apply(pid int, sw fault.Switch) (Undo, error) {
	var undo Undo
	var err error
	switch sw.Kind {
	case fault.Partition:
		undo, err = Partition(pid)
	case fault.SlowLink:
		undo, err = SlowLink(pid, sw.Rate)
	case fault.Loss:
		undo, err = Loss(pid, sw.Percent)
	case fault.Latency:
		undo, err = Latency(pid, sw.Delay)
	default:
		return nil, fmt.Errorf("netfault: %w: %s is not a network fault", fault.ErrUnsupported, sw.Kind)
	}
	if err != nil {
		return nil, withHint(err)
	}
	return undo, nil
}

// withHint adds what to change to an error that comes from where osupgrade
// runs rather than from the container: most often osupgrade in a container
// started without the README's options. The container's PID is the
// engine's: not there (ENOENT under /proc), osupgrade does not see the
// engine's PID namespace; not allowed (EPERM, EACCES), it lacks the
// capabilities to enter a namespace and change links, qdiscs and nftables.
func withHint(err error) error {
	switch {
	case errors.Is(err, errNoNamespace) && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (the container's process is not visible here: osupgrade in a container needs the engine's PID namespace, `docker run --pid host`)", err)
	case errors.Is(err, fs.ErrPermission),
		// netlink formats setns's EPERM into its message (%v): only the
		// text is left to tell.
		errors.Is(err, errEnterNamespace) && strings.Contains(err.Error(), unix.EPERM.Error()):
		return fmt.Errorf("%w (network faults need root with CAP_NET_ADMIN and CAP_SYS_ADMIN: osupgrade in a container needs `docker run --cap-add NET_ADMIN --cap-add SYS_ADMIN`)", err)
	}
	return err
}

// errNoNamespace marks the failure to open a container's network
// namespace, errEnterNamespace the failure to enter it.
var (
	errNoNamespace    = errors.New("netfault: network namespace")
	errEnterNamespace = errors.New("netfault: netlink in the namespace")
)

// links finds the container's eth0 (through a handle in its namespace) and
// its host-side veth peer.
func links(pid int) (inside *netlink.Handle, eth0, host netlink.Link, ns netns.NsHandle, err error) {
	ns, err = netns.GetFromPid(pid)
	if err != nil {
		return nil, nil, nil, ns, fmt.Errorf("%w of pid %d: %w", errNoNamespace, pid, err)
	}
	inside, err = netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, nil, nil, ns, fmt.Errorf("%w of pid %d: %w", errEnterNamespace, pid, err)
	}
	eth0, err = inside.LinkByName("eth0")
	if err != nil {
		inside.Close()
		ns.Close()
		return nil, nil, nil, ns, fmt.Errorf("netfault: eth0 of pid %d: %w", pid, err)
	}
	peer := eth0.Attrs().ParentIndex
	if peer == 0 {
		inside.Close()
		ns.Close()
		return nil, nil, nil, ns, fmt.Errorf("netfault: eth0 of pid %d has no veth peer", pid)
	}
	host, err = netlink.LinkByIndex(peer)
	if err != nil {
		inside.Close()
		ns.Close()
		return nil, nil, nil, ns, fmt.Errorf("netfault: host-side veth %d of pid %d: %w", peer, pid, err)
	}
	return inside, eth0, host, ns, nil
}

// Partition sets the host-side veth down: nothing reaches the container and
// it reaches nothing. Undo sets it up and puts back any route of the
// container's eth0 the kernel dropped.
func Partition(pid int) (Undo, error) {
	inside, eth0, host, ns, err := links(pid)
	if err != nil {
		return nil, err
	}
	routes, err := inside.RouteList(eth0, netlink.FAMILY_ALL)
	if err != nil {
		inside.Close()
		ns.Close()
		return nil, fmt.Errorf("netfault: routes of pid %d: %w", pid, err)
	}
	if err := netlink.LinkSetDown(host); err != nil {
		inside.Close()
		ns.Close()
		return nil, fmt.Errorf("netfault: partition: set %s down: %w", host.Attrs().Name, err)
	}
	return func() error {
		defer ns.Close()
		defer inside.Close()
		if err := netlink.LinkSetUp(host); err != nil {
			return fmt.Errorf("netfault: partition: set %s up: %w", host.Attrs().Name, err)
		}
		var errs []error
		for i := range routes {
			r := routes[i]
			if err := inside.RouteReplace(&r); err != nil && !errors.Is(err, unix.EEXIST) {
				errs = append(errs, fmt.Errorf("netfault: partition: restore route %s: %w", r, err))
			}
		}
		return errors.Join(errs...)
	}, nil
}

// tbf is a token bucket on link: rate bytes per second, a burst of one
// full-size packet, a queue of limit bytes.
func tbf(link netlink.Link, rate int, limit uint32) *netlink.Tbf {
	const burst = 1600
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       uint64(rate),
		Limit:      limit,
		Buffer:     netlink.Xmittime(uint64(rate), burst),
	}
}

// SlowLink rate-limits the container's traffic both ways with TBF qdiscs
// (qdiscs shape egress: one on the host veth for traffic to the container,
// one on its eth0 for traffic from it).
func SlowLink(pid, rate int) (Undo, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("netfault: slow-link: rate %d bytes/s, want more than 0", rate)
	}
	inside, eth0, host, ns, err := links(pid)
	if err != nil {
		return nil, err
	}
	limit := uint32(max(rate*4, 16<<10)) // ~4 s of queue
	out, in := tbf(host, rate, limit), tbf(eth0, rate, limit)
	if err := netlink.QdiscReplace(out); err != nil {
		inside.Close()
		ns.Close()
		return nil, fmt.Errorf("netfault: slow-link: tbf on %s: %w", host.Attrs().Name, err)
	}
	if err := inside.QdiscReplace(in); err != nil {
		_ = netlink.QdiscDel(out)
		inside.Close()
		ns.Close()
		return nil, fmt.Errorf("netfault: slow-link: tbf on eth0 of pid %d: %w", pid, err)
	}
	return func() error {
		defer ns.Close()
		defer inside.Close()
		return errors.Join(ignoreGone(netlink.QdiscDel(out)), ignoreGone(inside.QdiscDel(in)))
	}, nil
}

// Latency delays every packet to the container by d with a netem qdisc on
// its host-side veth. Without sch_netem the error wraps ErrNoNetem: use
// LatencyTBF, the closest honest alternative.
func Latency(pid int, d time.Duration) (Undo, error) {
	if d <= 0 {
		return nil, fmt.Errorf("netfault: latency: delay %s, want more than 0", d)
	}
	_, _, host, ns, err := links(pid)
	if err != nil {
		return nil, err
	}
	ns.Close()
	q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: host.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}, netlink.NetemQdiscAttrs{Latency: uint32(d / time.Microsecond)})
	if err := netlink.QdiscReplace(q); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("netfault: latency: %w (the kernel refused the qdisc: %v)", ErrNoNetem, err)
		}
		return nil, fmt.Errorf("netfault: latency: netem on %s: %w", host.Attrs().Name, err)
	}
	return func() error { return ignoreGone(netlink.QdiscDel(q)) }, nil
}

// LatencyTBF is latency's alternative on kernels without netem: a TBF rate
// limit under which a health probe's ProbeBytes take d. It is not a fixed
// delay: larger transfers wait longer, small ones less.
func LatencyTBF(pid int, d time.Duration) (Undo, error) {
	if d <= 0 {
		return nil, fmt.Errorf("netfault: latency: delay %s, want more than 0", d)
	}
	return SlowLink(pid, TBFRateFor(d))
}

// TBFRateFor is the rate at which ProbeBytes take d (at least 1 byte/s).
func TBFRateFor(d time.Duration) int {
	return max(1, int(float64(ProbeBytes)/d.Seconds()))
}

// Loss drops percent% of the packets on the container's link, both ways,
// at random: an nftables table in its namespace, numgen random mod 100,
// compared (after byteorder to network order) with percent. 100 is a
// partition. Only eth0's packets: the link is what fails, not the
// container's loopback (its agent probes its own app there).
func Loss(pid, percent int) (Undo, error) {
	if percent < 0 || percent > 100 {
		return nil, fmt.Errorf("netfault: loss: %d%%, want 0 to 100", percent)
	}
	inside, eth0, _, ns, err := links(pid)
	if err != nil {
		return nil, err
	}
	inside.Close()
	link := uint32(eth0.Attrs().Index)
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netfault: loss: nftables in the namespace of pid %d: %w", pid, err)
	}
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
	for _, hook := range []struct {
		name string
		num  *nftables.ChainHook
		dev  expr.MetaKey
	}{{"input", nftables.ChainHookInput, expr.MetaKeyIIF}, {"output", nftables.ChainHookOutput, expr.MetaKeyOIF}} {
		chain := conn.AddChain(&nftables.Chain{Name: hook.name, Table: table, Type: nftables.ChainTypeFilter, Hooknum: hook.num, Priority: nftables.ChainPriorityFilter})
		conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: dropRule(hook.dev, link, percent)})
	}
	if err := conn.Flush(); err != nil {
		ns.Close()
		return nil, fmt.Errorf("netfault: loss: install the rules: %w", err)
	}
	return func() error {
		defer ns.Close()
		conn.DelTable(table)
		if err := conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("netfault: loss: remove table %s: %w", TableName, err)
		}
		return nil
	}, nil
}

// dropRule: on link (meta iif or oif), numgen random mod 100 → byteorder
// hton → cmp lt percent → drop. Without the byteorder step the comparison is
// wrong (NOTES.md).
func dropRule(dev expr.MetaKey, link uint32, percent int) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: dev, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(link)},
		&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(uint32(percent))},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// ignoreGone: a qdisc already gone (the container restarted, the veth went
// with it) is not an error when ending the fault.
func ignoreGone(err error) error {
	if err == nil || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) {
		return nil
	}
	return err
}
