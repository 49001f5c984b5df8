package netfault

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// container starts a process in a new network namespace with one end of a
// veth pair as its eth0, the other end on the host: what Docker builds.
func container(t *testing.T) (pid int, host netlink.Link) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netfault needs root (CAP_NET_ADMIN): skipped")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare(1) not found: skipped")
	}
	cmd := exec.Command("unshare", "--net", "sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid = cmd.Process.Pid
	var ns netns.NsHandle
	for i := 0; ; i++ { // unshare execs sleep once the namespace exists
		self, _ := netns.Get()
		n, err := netns.GetFromPid(pid)
		if err == nil && !n.Equal(self) {
			ns = n
			self.Close()
			break
		}
		self.Close()
		if i > 1000 {
			t.Fatal("the child never entered its own network namespace")
		}
		time.Sleep(time.Millisecond) // waiting for exec, not for a timed outcome
	}
	name := "osuf" + strings.TrimLeft(time.Now().Format(".000000"), ".")
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "c"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Skipf("cannot create a veth pair here: %v", err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	peer, err := netlink.LinkByName(name + "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	in, err := h.LinkByName(name + "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetName(in, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(in); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	host, err = netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return pid, host
}

func TestPartitionSetsTheHostVethDownAndUp(t *testing.T) {
	pid, host := container(t)
	undo, err := Partition(pid)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := netlink.LinkByIndex(host.Attrs().Index)
	if l.Attrs().Flags&1 != 0 { // net.FlagUp
		t.Fatalf("%s is still up during the partition", l.Attrs().Name)
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	l, _ = netlink.LinkByIndex(host.Attrs().Index)
	if l.Attrs().Flags&1 == 0 {
		t.Fatalf("%s is still down after the partition", l.Attrs().Name)
	}
}

func TestSlowLinkPutsATBFOnBothSides(t *testing.T) {
	pid, host := container(t)
	undo, err := SlowLink(pid, 1024)
	if err != nil {
		t.Fatal(err)
	}
	hasTBF := func() bool {
		qs, err := netlink.QdiscList(host)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if tb, ok := q.(*netlink.Tbf); ok && tb.Rate == 1024 {
				return true
			}
		}
		return false
	}
	if !hasTBF() {
		t.Fatal("no 1024 B/s tbf qdisc on the host veth")
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if hasTBF() {
		t.Fatal("the tbf qdisc is still there after undo")
	}
}

func TestLossInstallsAndRemovesItsTable(t *testing.T) {
	pid, _ := container(t)
	undo, err := Loss(pid, 30)
	if err != nil {
		t.Fatal(err)
	}
	ns, _ := netns.GetFromPid(pid)
	defer ns.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	has := func() bool {
		tables, err := conn.ListTables()
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if tb.Name == TableName {
				return true
			}
		}
		return false
	}
	if !has() {
		t.Fatalf("no %s table in the container's namespace", TableName)
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if has() {
		t.Fatalf("table %s still there after undo", TableName)
	}
}

func TestLatencyNamesTheMissingNetem(t *testing.T) {
	pid, _ := container(t)
	avail := NetemAvailable()
	undo, err := Latency(pid, 100*time.Millisecond)
	switch {
	case avail != nil && err == nil:
		_ = undo()
		t.Fatalf("NetemAvailable says %v, yet a netem qdisc was accepted", avail)
	case avail != nil && !errors.Is(err, ErrNoNetem):
		t.Fatalf("without netem, Latency = %v, want ErrNoNetem", err)
	case avail == nil && err != nil:
		t.Fatalf("netem is available but Latency failed: %v", err)
	case avail == nil:
		_ = undo()
	}
	if got := TBFRateFor(time.Second); got != ProbeBytes {
		t.Fatalf("TBFRateFor(1s) = %d, want %d", got, ProbeBytes)
	}
}

// Loss is the link's: at 100% the container's loopback still carries its
// agent's probes of its own app.
func TestLossSparesLoopback(t *testing.T) {
	pid, _ := container(t)
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	undo, err := Loss(pid, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer undo()

	// Sockets belong to the namespace of the thread that creates them.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(self)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	// Dropped SYNs are retransmitted after 1 s: 3 s only guards a hang.
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 3*time.Second)
	if err != nil {
		t.Fatalf("loopback in the container under 100%% loss: %v", err)
	}
	c.Close()
}

// An error that comes from where osupgrade runs (a container started
// without the README's options) says which option is missing; others are
// left as they are.
func TestWithHint(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // "": unchanged
	}{
		{"pid not visible", fmt.Errorf("%w of pid 17515: %w", errNoNamespace, unix.ENOENT), "`docker run --pid host`"},
		{"namespace not allowed", fmt.Errorf("%w of pid 17515: %w", errNoNamespace, unix.EPERM), "--cap-add NET_ADMIN --cap-add SYS_ADMIN"},
		{"link change not allowed", fmt.Errorf("netfault: slow-link: tbf on veth1: %w", unix.EPERM), "--cap-add NET_ADMIN --cap-add SYS_ADMIN"},
		{"namespace not entered", fmt.Errorf("%w of pid 16702: %w", errEnterNamespace, errors.New("failed to set into network namespace 14 while creating netlink socket: operation not permitted")), "--cap-add NET_ADMIN --cap-add SYS_ADMIN"},
		{"namespace not entered otherwise", fmt.Errorf("%w of pid 16702: %w", errEnterNamespace, errors.New("failed to set into network namespace 14 while creating netlink socket: too many open files")), ""},
		{"no eth0", fmt.Errorf("netfault: eth0 of pid 1: %w", unix.ENOENT), ""},
		{"no netem", ErrNoNetem, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := withHint(tc.err)
			if !errors.Is(got, tc.err) {
				t.Fatalf("withHint(%v) = %v, which does not wrap it", tc.err, got)
			}
			switch {
			case tc.want == "" && got.Error() != tc.err.Error():
				t.Errorf("withHint(%v) = %v, want it unchanged", tc.err, got)
			case tc.want != "" && !strings.Contains(got.Error(), tc.want):
				t.Errorf("withHint(%v) = %v, want it to say %q", tc.err, got, tc.want)
			}
		})
	}
}
