package plan

import (
	"fmt"
	"slices"
)

// regionPairs are Azure's published region pairs for the regions osupgrade
// supports. Some pairings are one-way in Azure (westus3 -> eastus,
// brazilsouth -> southcentralus); for R-AVAIL-2 a pair is a pair both ways.
var regionPairs = [][2]string{
	{"eastus", "westus"},
	{"eastus2", "centralus"},
	{"northcentralus", "southcentralus"},
	{"westus2", "westcentralus"},
	{"westus3", "eastus"},
	{"brazilsouth", "southcentralus"},
	{"canadacentral", "canadaeast"},
	{"northeurope", "westeurope"},
	{"uksouth", "ukwest"},
	{"francecentral", "francesouth"},
	{"germanywestcentral", "germanynorth"},
	{"eastasia", "southeastasia"},
	{"japaneast", "japanwest"},
	{"koreacentral", "koreasouth"},
	{"australiaeast", "australiasoutheast"},
	{"centralindia", "southindia"},
}

// regionRank is each supported region's place in the platform's order;
// pairedWith its pairs. Both are derived once from regionPairs.
var regionRank, pairedWith = func() (map[string]int, map[string][]string) {
	rank := map[string]int{}
	pairs := map[string][]string{}
	for _, p := range regionPairs {
		for _, r := range p {
			if _, ok := rank[r]; !ok {
				rank[r] = len(rank)
			}
		}
		pairs[p[0]] = append(pairs[p[0]], p[1])
		pairs[p[1]] = append(pairs[p[1]], p[0])
	}
	return rank, pairs
}()

// Regions lists the supported regions in the platform's rollout order.
func Regions() []string {
	out := make([]string, len(regionRank))
	for r, i := range regionRank {
		out[i] = r
	}
	return out
}

// KnownRegion reports a supported region.
func KnownRegion(r string) bool {
	_, ok := regionRank[r]
	return ok
}

// Paired reports whether a and b are a geographic pair.
func Paired(a, b string) bool { return slices.Contains(pairedWith[a], b) }

// Phases groups regions into the platform's rollout phases (R-AVAIL-2):
// regions are taken in the platform's order and each goes into the first
// phase holding none of its pairs, so paired regions never share a phase.
// Duplicates count once.
func Phases(regions []string) ([][]string, error) {
	rs := slices.Clone(regions)
	for _, r := range rs {
		if !KnownRegion(r) {
			return nil, fmt.Errorf("region %q is not supported (supported: %v)", r, Regions())
		}
	}
	slices.SortFunc(rs, func(a, b string) int { return regionRank[a] - regionRank[b] })
	rs = slices.Compact(rs)
	var phases [][]string
next:
	for _, r := range rs {
		for i, ph := range phases {
			if !slices.ContainsFunc(ph, func(o string) bool { return Paired(o, r) }) {
				phases[i] = append(phases[i], r)
				continue next
			}
		}
		phases = append(phases, []string{r})
	}
	return phases, nil
}
