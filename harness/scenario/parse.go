package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Error is a problem in a scenario file, with where it is.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// ErrInvalid is what every Error matches with errors.Is.
var ErrInvalid = errors.New("invalid scenario")

func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Vocabulary is what the harness can do: the fault names it registers.
type Vocabulary struct {
	Faults []string
}

// Load reads and validates a scenario file.
func Load(path string, v Vocabulary) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return Parse(path, data, v)
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9-]+$`)
	yamlLineRE  = regexp.MustCompile(`^line (\d+): (?:column (\d+): )?(.*)$`)
	backtickRE  = regexp.MustCompile("`([^`]*)`")
	unknownRE   = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	batchRE     = regexp.MustCompile(`^batch (\d+) (started|finished)$`)
	instanceRE  = regexp.MustCompile(`^instance (\d+) reimaged$`)
	plainEvents = []string{"rollout started", "rollback started", "rollout finished"}
)

// Parse decodes and validates a scenario. Every error names the file, the
// line and the field.
func Parse(path string, data []byte, v Vocabulary) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(path, &root, err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: path, Msg: "the file is empty"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, yamlError(path, &root, err)
	}
	f.Path = path
	p := &checker{file: path, root: root.Content[0], vocab: v}
	for i := range f.Timeline {
		f.Timeline[i].Line = p.line(fmt.Sprintf("timeline.%d", i))
	}
	if err := p.check(&f); err != nil {
		return nil, err
	}
	return &f, nil
}

// yamlError turns a YAML error into one naming the field.
func yamlError(path string, root *yaml.Node, err error) error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return &Error{File: path, Msg: msg}
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	what := m[3]
	if u := unknownRE.FindStringSubmatch(what); u != nil {
		return &Error{File: path, Line: line, Field: u[1], Msg: "unknown field"}
	}
	field := ""
	if len(root.Content) > 0 {
		if col > 0 {
			field = fieldAtColumn(root.Content[0], "", line, col)
		}
		if v := backtickRE.FindStringSubmatch(what); field == "" && v != nil {
			field = fieldWithValue(root.Content[0], "", line, v[1])
		}
		if field == "" {
			field = fieldAt(root.Content[0], "", line)
		}
	}
	return &Error{File: path, Line: line, Field: field, Msg: what}
}

// fieldAt finds the path of the key or value on a line.
func fieldAt(n *yaml.Node, prefix string, line int) string {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(prefix, k.Value)
			if f := fieldAt(val, p, line); f != "" {
				return f
			}
			if k.Line == line || val.Line == line {
				return p
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			if f := fieldAt(c, p, line); f != "" {
				return f
			}
			if c.Line == line && c.Kind == yaml.ScalarNode {
				return p
			}
		}
	}
	return ""
}

// fieldWithValue finds the path of the scalar on a line holding value.
func fieldWithValue(n *yaml.Node, prefix string, line int, value string) string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Line == line && n.Value == value {
			return prefix
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if f := fieldWithValue(n.Content[i+1], join(prefix, n.Content[i].Value), line, value); f != "" {
				return f
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if f := fieldWithValue(c, fmt.Sprintf("%s[%d]", prefix, i), line, value); f != "" {
				return f
			}
		}
	}
	return ""
}

// fieldAtColumn finds the path of the value that starts at line:col.
func fieldAtColumn(n *yaml.Node, prefix string, line, col int) string {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(prefix, k.Value)
			if val.Line == line && val.Column == col {
				return p
			}
			if f := fieldAtColumn(val, p, line, col); f != "" {
				return f
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			if c.Line == line && c.Column == col {
				return p
			}
			if f := fieldAtColumn(c, p, line, col); f != "" {
				return f
			}
		}
	}
	return ""
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

type checker struct {
	file  string
	root  *yaml.Node
	vocab Vocabulary
}

// line finds the line of a dotted path ("scaleSets.0.instances").
func (c *checker) line(path string) int {
	n := c.root
	best := n.Line
	for _, part := range strings.Split(path, ".") {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					best = n.Content[i].Line
					next = n.Content[i+1]
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(part); err == nil && i < len(n.Content) {
				next = n.Content[i]
				best = next.Line
			}
		}
		if next == nil {
			return best
		}
		n = next
	}
	return best
}

// fail reports a problem at a dotted path; the field is shown ARM-style.
func (c *checker) fail(path, format string, args ...any) error {
	return &Error{File: c.file, Line: c.line(path), Field: displayPath(path), Msg: fmt.Sprintf(format, args...)}
}

func displayPath(path string) string {
	var b strings.Builder
	for i, part := range strings.Split(path, ".") {
		if _, err := strconv.Atoi(part); err == nil {
			fmt.Fprintf(&b, "[%s]", part)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(part)
	}
	return b.String()
}

// CompareModes are the values of `compare:`. "counts" is for scenarios in
// which which instance a fault hits depends on the order of concurrent
// calls (engine-error's nth: on Docker the orchestrator reimages several
// instances at once, the simulator one after another).
var CompareModes = []string{"instances", "counts"}

// Statuses an expectation may name.
var Statuses = []string{"NotStarted", "Completed", "Faulted", "Cancelled", "RollingForward", "Rejected"}

func (c *checker) check(f *File) error {
	if f.Name == "" {
		return c.fail("name", "is required")
	}
	if !nameRE.MatchString(f.Name) {
		return c.fail("name", "%q must match [a-z0-9-]+", f.Name)
	}
	if len(f.ScaleSets) == 0 {
		return c.fail("scaleSets", "at least one scale set is required")
	}
	for i, fl := range f.Fleets {
		// Any registered backend: a program parses scenarios for the
		// backends it links.
		if _, err := backend.Lookup(fl); err != nil {
			return c.fail(fmt.Sprintf("fleets.%d", i), "%v", err)
		}
	}
	if f.Compare != "" && !slices.Contains(CompareModes, f.Compare) {
		return c.fail("compare", "is %q, want %s", f.Compare, strings.Join(CompareModes, " or "))
	}
	sets, groups, err := c.expand(f)
	if err != nil {
		return err
	}
	for i, img := range f.Images {
		p := fmt.Sprintf("images.%d", i)
		if err := c.checkImage(p, img); err != nil {
			return err
		}
	}
	for i := range f.Timeline {
		if err := c.checkEntry(fmt.Sprintf("timeline.%d", i), &f.Timeline[i], f, sets, groups); err != nil {
			return err
		}
	}
	return c.checkExpect("expect", f.Expect)
}

// expand checks every scaleSets entry and replaces the entries with the
// sets they declare: a `count: N` entry NAME becomes NAME-0 … NAME-(N-1),
// spread round-robin over its regions. It returns the sets by name and the
// count entries' sizes by name.
func (c *checker) expand(f *File) (map[string]*ScaleSet, map[string]int, error) {
	decls := f.ScaleSets
	total, instances := 0, 0
	for i := range decls {
		p := fmt.Sprintf("scaleSets.%d", i)
		s := &decls[i]
		if err := c.checkSet(p, s); err != nil {
			return nil, nil, err
		}
		n, err := c.checkCount(p, s)
		if err != nil {
			return nil, nil, err
		}
		if err := c.checkExpect(p+".expect", s.Expect); err != nil {
			return nil, nil, err
		}
		at := p + ".name"
		if s.Count != nil {
			at = p + ".count"
		}
		if total += n; total > MaxScaleSets {
			return nil, nil, c.fail(at, "makes %d scale sets in the file, more than %d", total, MaxScaleSets)
		}
		if instances += n * s.Instances; instances > MaxInstancesPerFile {
			return nil, nil, c.fail(at, "makes %d instances in the file, more than %d", instances, MaxInstancesPerFile)
		}
	}
	out := make([]ScaleSet, 0, total)
	groups := map[string]int{}
	for i, d := range decls {
		d.Declared = i
		if d.Count == nil {
			out = append(out, d)
			continue
		}
		n, regions := *d.Count, d.Regions
		groups[d.Name] = n
		d.Group, d.Count, d.Regions = d.Name, nil, nil
		for k := range n {
			m := d
			m.Name = MemberName(d.Group, k)
			if len(regions) > 0 {
				m.Region = regions[k%len(regions)]
			}
			m.Zones = slices.Clone(d.Zones)
			out = append(out, m)
		}
	}
	f.ScaleSets = out
	sets := make(map[string]*ScaleSet, len(out))
	for i := range out {
		s := &out[i]
		if prev, dup := sets[s.Name]; dup {
			return nil, nil, c.fail(fmt.Sprintf("scaleSets.%d.name", s.Declared), "scale set %q is declared twice%s", s.Name, origin(prev, s))
		}
		sets[s.Name] = s
	}
	for i, d := range decls {
		if _, clash := sets[d.Name]; clash && d.Count != nil {
			return nil, nil, c.fail(fmt.Sprintf("scaleSets.%d.name", i), "%q names both a scale set and this count: entry; a timeline scaleSet: could not tell them apart", d.Name)
		}
	}
	return sets, groups, nil
}

// origin says which count: entries made a duplicate name.
func origin(sets ...*ScaleSet) string {
	var from []string
	for _, s := range sets {
		if s.Group != "" {
			from = append(from, fmt.Sprintf("%s (count: of %s)", s.Name, s.Group))
		}
	}
	if len(from) == 0 {
		return ""
	}
	return ": " + strings.Join(from, ", ")
}

// checkCount checks count and regions; it returns how many sets the entry
// declares.
func (c *checker) checkCount(p string, s *ScaleSet) (int, error) {
	if s.Count == nil {
		if s.Regions != nil {
			return 0, c.fail(p+".regions", "spreads the sets of count: over regions; give count too (or region for one set)")
		}
		return 1, nil
	}
	n := *s.Count
	if n < 1 || n > MaxScaleSets {
		return 0, c.fail(p+".count", "is %d, want 1 to %d (the sets are named %s-0, %s-1, …)", n, MaxScaleSets, s.Name, s.Name)
	}
	if s.Regions == nil {
		return n, nil
	}
	if s.Region != "" {
		return 0, c.fail(p+".region", "is %q beside regions: give region (every set there) or regions (the sets spread round-robin), not both", s.Region)
	}
	if len(s.Regions) == 0 {
		return 0, c.fail(p+".regions", "is empty: list at least one region, or leave it out")
	}
	if len(s.Regions) > n {
		return 0, c.fail(p+".regions", "lists %d regions for %d sets: %s would hold none", len(s.Regions), n, strings.Join(s.Regions[n:], ", "))
	}
	for j, r := range s.Regions {
		if !orchestrator.KnownRegion(r) {
			return 0, c.fail(fmt.Sprintf("%s.regions.%d", p, j), "region %q is not supported (supported: %s)", r, strings.Join(orchestrator.Regions(), ", "))
		}
		if slices.Contains(s.Regions[:j], r) {
			return 0, c.fail(fmt.Sprintf("%s.regions.%d", p, j), "region %q is listed twice", r)
		}
	}
	return n, nil
}

func (c *checker) checkSet(p string, s *ScaleSet) error {
	if s.Name == "" {
		return c.fail(p+".name", "is required")
	}
	if !nameRE.MatchString(s.Name) {
		return c.fail(p+".name", "%q must match [a-z0-9-]+", s.Name)
	}
	if s.Instances < 1 || s.Instances > MaxInstancesPerSet {
		return c.fail(p+".instances", "is %d, want 1 to %d", s.Instances, MaxInstancesPerSet)
	}
	if s.UpdateDomains != nil && (*s.UpdateDomains < 1 || *s.UpdateDomains > 20) {
		return c.fail(p+".updateDomains", "is %d, want 1 to 20", *s.UpdateDomains)
	}
	switch s.OS {
	case "", "linux", "windows":
	default:
		return c.fail(p+".os", "is %q, want linux or windows", s.OS)
	}
	switch s.Health {
	case "", "extension", "probe", "none":
	default:
		return c.fail(p+".health", "is %q, want extension, probe or none", s.Health)
	}
	if s.Image == "" {
		return c.fail(p+".image", "is required (publisher:offer:sku:version or gallery:NAME/IMAGE)")
	}
	if err := checkImageRef(s.Image, false); err != nil {
		return c.fail(p+".image", "%v", err)
	}
	if s.RunningVersion == "" {
		return c.fail(p+".runningVersion", "is required: the version every instance runs at time 0")
	}
	if err := s.UpgradePolicy.Rolling().Validate(); err != nil {
		var pe *plan.PolicyError
		if errors.As(err, &pe) {
			return c.fail(p+".upgradePolicy."+pe.Field, "%s", pe.Message)
		}
		return c.fail(p+".upgradePolicy", "%v", err)
	}
	names := map[string]bool{}
	for i, e := range s.Extensions {
		ep := fmt.Sprintf("%s.extensions.%d", p, i)
		if e.Name == "" {
			return c.fail(ep+".name", "is required")
		}
		if names[e.Name] {
			return c.fail(ep+".name", "extension %q is declared twice", e.Name)
		}
		names[e.Name] = true
	}
	for i, e := range s.Extensions {
		for j, dep := range e.ProvisionAfterExtensions {
			if !names[dep] {
				return c.fail(fmt.Sprintf("%s.extensions.%d.provisionAfterExtensions.%d", p, i, j), "extension %q does not exist in scale set %s (R-REQ-9)", dep, s.Name)
			}
		}
	}
	return nil
}

func checkImageRef(s string, needVersion bool) error {
	if rest, ok := strings.CutPrefix(s, "gallery:"); ok {
		name, version, _ := strings.Cut(rest, ":")
		g, img, ok := strings.Cut(name, "/")
		if !ok || g == "" || img == "" {
			return fmt.Errorf("%q: want gallery:NAME/IMAGE", s)
		}
		if needVersion && version == "" {
			return fmt.Errorf("%q: a published image needs a version (gallery:NAME/IMAGE:VERSION)", s)
		}
		return nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 4 || slices.Contains(parts, "") {
		return fmt.Errorf("%q: want publisher:offer:sku:version", s)
	}
	if needVersion && parts[3] == "latest" {
		return fmt.Errorf("%q: a published image needs a concrete version, not latest", s)
	}
	return nil
}

var badKinds = []string{"", "never-healthy", "crash", "extension-failure"}

func (c *checker) checkImage(p string, img Image) error {
	if img.Image == "" {
		return c.fail(p+".image", "is required")
	}
	if err := checkImageRef(img.Image, true); err != nil {
		return c.fail(p+".image", "%v", err)
	}
	if !slices.Contains(badKinds, img.Bad) {
		return c.fail(p+".bad", "is %q, want never-healthy, crash or extension-failure", img.Bad)
	}
	if len(img.Regions) > 0 && !strings.HasPrefix(img.Image, "gallery:") {
		return c.fail(p+".regions", "only gallery images are replicated per region; platform images reach every region")
	}
	return nil
}

// ValidEvent checks an `on:` event name.
func ValidEvent(on string) error {
	if slices.Contains(plainEvents, on) {
		return nil
	}
	if m := batchRE.FindStringSubmatch(on); m != nil {
		if k, _ := strconv.Atoi(m[1]); k >= 1 {
			return nil
		}
		return fmt.Errorf("batches count from 1")
	}
	if instanceRE.MatchString(on) {
		return nil
	}
	return fmt.Errorf("event %q does not exist (want rollout started, batch K started, batch K finished, instance ID reimaged, rollback started or rollout finished)", on)
}

func (c *checker) checkEntry(p string, e *Entry, f *File, sets map[string]*ScaleSet, groups map[string]int) error {
	if (e.At == nil) == (e.On == "") {
		return c.fail(p, "needs exactly one of at: (a scenario time) or on: (a rollout event)")
	}
	if e.On != "" {
		if err := ValidEvent(e.On); err != nil {
			return c.fail(p+".on", "%v", err)
		}
	}
	targets := f.ScaleSets
	if e.ScaleSet != "" {
		if s, ok := sets[e.ScaleSet]; ok {
			targets = []ScaleSet{*s}
		} else if n, ok := groups[e.ScaleSet]; ok {
			// A count: entry's sets differ only in name and region, which
			// no check here reads: check the entry once, under its name.
			e.groupSize = n
			one := *sets[MemberName(e.ScaleSet, 0)]
			one.Name = e.ScaleSet
			targets = []ScaleSet{one}
		} else {
			return c.fail(p+".scaleSet", "scale set %q is not declared (name a set, or a count: entry for all of its sets)", e.ScaleSet)
		}
	}
	if m := instanceRE.FindStringSubmatch(e.On); m != nil {
		id, _ := strconv.Atoi(m[1])
		for _, s := range targets {
			if id >= s.Instances {
				return c.fail(p+".on", "instance %d does not exist in scale set %s (ids are 0..%d)", id, s.Name, s.Instances-1)
			}
		}
	}
	actions := 0
	for _, set := range []bool{e.Fault != "", e.Trigger != "", e.RenewSas != "", e.ManualUpgrade != nil} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		return c.fail(p, "needs exactly one action: fault, trigger, renewSas or manualUpgrade")
	}
	switch {
	case e.Fault != "":
		if !slices.Contains(c.vocab.Faults, e.Fault) {
			return c.fail(p+".fault", "unknown fault %q (known: %s)", e.Fault, strings.Join(c.vocab.Faults, ", "))
		}
		return c.checkSelection(p, e, targets)
	case e.Trigger != "":
		if e.Trigger != "manual" && e.Trigger != "cancel" {
			return c.fail(p+".trigger", "is %q, want manual or cancel", e.Trigger)
		}
	case e.RenewSas != "":
		for _, s := range targets {
			if !slices.ContainsFunc(s.Extensions, func(x Extension) bool { return x.Name == e.RenewSas }) {
				return c.fail(p+".renewSas", "scale set %s has no extension %q", s.Name, e.RenewSas)
			}
		}
		if e.ExpiresAt == nil {
			return c.fail(p+".expiresAt", "is required with renewSas: when the new token expires, on the scenario clock")
		}
	case e.ManualUpgrade != nil:
		for i, id := range e.ManualUpgrade.IDs {
			for _, s := range targets {
				if id < 0 || id >= s.Instances {
					return c.fail(fmt.Sprintf("%s.manualUpgrade.%d", p, i), "instance %d does not exist in scale set %s", id, s.Name)
				}
			}
		}
	}
	return nil
}

// checkSelection checks count / percent / instances / zone / updateDomain.
func (c *checker) checkSelection(p string, e *Entry, targets []ScaleSet) error {
	n := 0
	for _, set := range []bool{e.Count != nil, e.Percent != nil, e.Instances != nil, e.Zone != "", e.UpdateDomain != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return c.fail(p, "select instances with one of count, percent, instances, zone or updateDomain, not %d of them", n)
	}
	if e.Percent != nil && (*e.Percent < 0 || *e.Percent > 100) {
		return c.fail(p+".percent", "is %d, want 0 to 100", *e.Percent)
	}
	for _, s := range targets {
		if e.Count != nil && (*e.Count < 0 || *e.Count > s.Instances) {
			return c.fail(p+".count", "is %d, want 0 to %d (scale set %s)", *e.Count, s.Instances, s.Name)
		}
		for i, id := range e.Instances {
			if id < 0 || id >= s.Instances {
				return c.fail(fmt.Sprintf("%s.instances.%d", p, i), "instance %d does not exist in scale set %s (ids are 0..%d)", id, s.Name, s.Instances-1)
			}
		}
		if e.Zone != "" && !slices.Contains(s.Zones, e.Zone) {
			return c.fail(p+".zone", "scale set %s has no zone %q (zones: %v)", s.Name, e.Zone, s.Zones)
		}
		if e.UpdateDomain != nil {
			uds := 5
			if s.UpdateDomains != nil {
				uds = *s.UpdateDomains
			}
			if *e.UpdateDomain < 0 || *e.UpdateDomain >= uds {
				return c.fail(p+".updateDomain", "is %d, want 0 to %d (scale set %s)", *e.UpdateDomain, uds-1, s.Name)
			}
		}
	}
	return nil
}

func (c *checker) checkExpect(p string, x *Expect) error {
	if x == nil {
		return nil
	}
	if x.Status != "" && !slices.Contains(Statuses, x.Status) {
		return c.fail(p+".status", "is %q, want one of %s", x.Status, strings.Join(Statuses, ", "))
	}
	if x.StartedBy != "" && x.StartedBy != "Platform" && x.StartedBy != "User" {
		return c.fail(p+".startedBy", "is %q, want Platform or User", x.StartedBy)
	}
	return nil
}
