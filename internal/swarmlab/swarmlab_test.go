package swarmlab

import (
	"net"
	"testing"
)

// The layout gives each node its own namespace, veth, address, local pool
// and roots; the pools must not overlap each other or the lab's link, or
// the host's routes to the nodes' containers would be ambiguous.
func TestPlanGivesEachNodeItsOwnNamesAndNetworks(t *testing.T) {
	nodes := plan("/tmp/lab", 3)
	_, link, _ := net.ParseCIDR("10.231.0.0/24")
	seen := map[string]bool{}
	var pools []*net.IPNet
	for i, nd := range nodes {
		if nd.Index != i+1 || nd.Zone != string(rune('1'+i)) {
			t.Fatalf("node %d: index %d zone %q", i, nd.Index, nd.Zone)
		}
		for _, v := range []string{nd.NetNS, nd.HostVeth, nd.Addr, nd.LocalPool, nd.Socket, nd.DataRoot, nd.ExecRoot, nd.PidFile, nd.Cgroup} {
			if seen[v] {
				t.Fatalf("node %d shares %q with another node", nd.Index, v)
			}
			seen[v] = true
		}
		if !link.Contains(net.ParseIP(nd.Addr)) || nd.Addr == HostAddr {
			t.Fatalf("node %d address %s: want one in %s other than the host's", nd.Index, nd.Addr, link)
		}
		if len(nd.HostVeth) > 15 || len(nd.NetNS+"n") > 15 {
			t.Fatalf("node %d: link names %q/%q exceed IFNAMSIZ", nd.Index, nd.HostVeth, nd.NetNS+"n")
		}
		_, p, err := net.ParseCIDR(nd.LocalPool)
		if err != nil {
			t.Fatal(err)
		}
		if p.Contains(link.IP) || link.Contains(p.IP) {
			t.Fatalf("node %d pool %s overlaps the link %s", nd.Index, p, link)
		}
		for _, q := range pools {
			if q.Contains(p.IP) || p.Contains(q.IP) {
				t.Fatalf("pools %s and %s overlap", q, p)
			}
		}
		pools = append(pools, p)
	}
}

func TestNetipIsThePoolsFirstSubnet(t *testing.T) {
	for _, tc := range []struct{ pool, want string }{
		{"10.232.0.0/16", "10.232.0"},
		{"10.234.0.0/16", "10.234.0"},
	} {
		got, err := netip(tc.pool)
		if err != nil || got != tc.want {
			t.Fatalf("netip(%s) = %q, %v; want %q", tc.pool, got, err, tc.want)
		}
	}
	if _, err := netip("not-a-cidr"); err == nil {
		t.Fatal("netip of a bad pool: want an error")
	}
}
