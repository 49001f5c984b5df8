package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const fleetFile = `name: fleet
scaleSets:
  - name: web
    count: 5
    regions: [eastus, westus]
    instances: 3
    zones: [1, 2]
    image: Canonical:UbuntuServer:18.04-LTS:latest
    runningVersion: 18.04.1
    upgradePolicy: {maxBatchInstancePercent: 50}
    expect: {status: Completed}
  - name: db
    region: westeurope
    instances: 2
    image: Canonical:UbuntuServer:18.04-LTS:latest
    runningVersion: 18.04.1
images:
  - {image: Canonical:UbuntuServer:18.04-LTS:18.04.2, publishAt: 30m}
timeline:
  - {at: 1h, fault: unhealthy, scaleSet: web, instances: [2]}
  - {at: 1h, fault: unhealthy, scaleSet: web-3, count: 1}
  - {on: "batch 1 started", fault: maintenance, scaleSet: web, percent: 30}
`

// A count: entry declares NAME-0 … NAME-(N-1), spread round-robin over its
// regions, every other field applied to each.
func TestParse_CountExpands(t *testing.T) {
	f, err := Parse("fleet.yaml", []byte(fleetFile), vocab)
	if err != nil {
		t.Fatal(err)
	}
	var names, regions []string
	for _, s := range f.ScaleSets {
		names = append(names, s.Name)
		regions = append(regions, s.Region)
	}
	if want := []string{"web-0", "web-1", "web-2", "web-3", "web-4", "db"}; !slices.Equal(names, want) {
		t.Errorf("sets %v, want %v", names, want)
	}
	if want := []string{"eastus", "westus", "eastus", "westus", "eastus", "westeurope"}; !slices.Equal(regions, want) {
		t.Errorf("regions %v, want %v", regions, want)
	}
	for _, s := range f.ScaleSets[:5] {
		if s.Group != "web" || s.Declared != 0 || s.Count != nil || s.Regions != nil || s.Instances != 3 ||
			!slices.Equal(s.Zones, []string{"1", "2"}) || s.UpgradePolicy.Rolling().MaxBatchInstancePercent != 50 || s.Expect == nil || s.Expect.Status != "Completed" {
			t.Errorf("%s: %+v", s.Name, s)
		}
	}
	if db := f.ScaleSets[5]; db.Group != "" || db.Declared != 1 {
		t.Errorf("db: group %q declared %d", db.Group, db.Declared)
	}
	f.ScaleSets[0].Zones[0] = "9"
	if f.ScaleSets[1].Zones[0] != "1" {
		t.Error("the expanded sets share their zones slice")
	}

	// The base name targets every set of the entry; a member name one.
	group, one, on := &f.Timeline[0], &f.Timeline[1], &f.Timeline[2]
	if got := group.TargetSets(); !slices.Equal(got, names[:5]) {
		t.Errorf("scaleSet: web targets %v", got)
	}
	if got := one.TargetSets(); !slices.Equal(got, []string{"web-3"}) {
		t.Errorf("scaleSet: web-3 targets %v", got)
	}
	for _, c := range []struct {
		e    *Entry
		set  string
		want bool
	}{
		{group, "web-0", true}, {group, "web-4", true}, {group, "web-5", false}, {group, "web-04", false},
		{group, "db", false}, {group, "web", true}, {one, "web-3", true}, {one, "web-2", false},
		{on, "web-1", true}, {on, "db", false}, {&Entry{}, "db", true},
	} {
		if got := c.e.Targets(c.set); got != c.want {
			t.Errorf("scaleSet %q Targets(%q) = %v, want %v", c.e.ScaleSet, c.set, got, c.want)
		}
	}
}

// Bad counts and regions get one error naming the file, the line and the
// field.
func TestParse_CountBadInput(t *testing.T) {
	cases := []struct {
		name, edit, old string
		line            int
		field, msg      string
	}{
		{"count 0", "    count: 0\n", "    count: 5\n", 4, "scaleSets[0].count", "is 0, want 1 to 10000"},
		{"count negative", "    count: -2\n", "    count: 5\n", 4, "scaleSets[0].count", "is -2, want 1 to 10000"},
		{"count huge", "    count: 10001\n", "    count: 5\n", 4, "scaleSets[0].count", "is 10001, want 1 to 10000"},
		{"count not a number", "    count: many\n", "    count: 5\n", 4, "scaleSets[0].count", "cannot unmarshal"},
		{"regions without count", "", "    count: 5\n", 4, "scaleSets[0].regions", "give count too"},
		{"region beside regions", "    count: 5\n    region: eastus\n", "    count: 5\n", 5, "scaleSets[0].region", "not both"},
		{"region not supported", "[eastus, moon]", "[eastus, westus]", 5, "scaleSets[0].regions[1]", `region "moon" is not supported`},
		{"region twice", "[eastus, eastus]", "[eastus, westus]", 5, "scaleSets[0].regions[1]", "listed twice"},
		{"regions empty", "regions: []", "regions: [eastus, westus]", 5, "scaleSets[0].regions", "is empty"},
		{"more regions than sets", "    count: 1\n", "    count: 5\n", 5, "scaleSets[0].regions", "westus would hold none"},
		{"a member name declared again", "  - name: web-2\n    region: westeurope", "  - name: db\n    region: westeurope", 12, "scaleSets[1].name", `"web-2" is declared twice: web-2 (count: of web)`},
		{"a set named like the count entry", "  - name: web\n    region: westeurope", "  - name: db\n    region: westeurope", 3, "scaleSets[0].name", "names both a scale set and this count: entry"},
		{"too many sets in the file", "    count: 10000\n", "    count: 5\n", 12, "scaleSets[1].name", "makes 10001 scale sets in the file, more than 10000"},
		{"too many instances in the file", "    count: 5000\n    regions: [eastus, westus]\n    instances: 2001\n", "    count: 5\n    regions: [eastus, westus]\n    instances: 3\n", 4, "scaleSets[0].count", "makes 10005000 instances in the file, more than 10000000"},
		{"member that does not exist", "scaleSet: web-5,", "scaleSet: web-3,", 21, "timeline[1].scaleSet", `"web-5" is not declared`},
		{"group instance out of range", "scaleSet: web, instances: [3]", "scaleSet: web, instances: [2]", 20, "timeline[0].instances[0]", "instance 3 does not exist in scale set web (ids are 0..2)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(fleetFile, c.old) {
				t.Fatalf("test bug: %q not in the file", c.old)
			}
			src := strings.Replace(fleetFile, c.old, c.edit, 1)
			_, err := Parse("bad.yaml", []byte(src), vocab)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Parse() = %v, want a *scenario.Error", err)
			}
			if se.File != "bad.yaml" || se.Line != c.line || se.Field != c.field || !strings.Contains(se.Msg, c.msg) {
				t.Errorf("got %q (line %d, field %q), want line %d field %q containing %q", err, se.Line, se.Field, c.line, c.field, c.msg)
			}
		})
	}
}

// The instances-per-file limit counts every set of every entry.
func TestParse_InstancesPerFile(t *testing.T) {
	src := strings.Replace(strings.Replace(fleetFile, "    count: 5\n", "    count: 10\n", 1), "    instances: 3\n", fmt.Sprintf("    instances: %d\n", MaxInstancesPerFile/10), 1)
	src = strings.Replace(src, "instances: [2]", "instances: [0]", 1)
	if _, err := Parse("edge.yaml", []byte(src), vocab); err == nil || !strings.Contains(err.Error(), "scaleSets[1].name: makes 10000002 instances in the file, more than 10000000") {
		t.Errorf("10 × %d + 2: %v", MaxInstancesPerFile/10, err)
	}
}
