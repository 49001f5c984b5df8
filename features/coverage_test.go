package features

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cucumber/godog"
)

// specPath is SPEC.md: ../shared/SPEC.md beside the repository, as the
// issues cite it; OSUPGRADE_SPEC overrides it.
func specPath() string {
	if p := os.Getenv("OSUPGRADE_SPEC"); p != "" {
		return p
	}
	return "../../shared/SPEC.md"
}

// coveredSections are the SPEC sections whose every rule id needs a scenario.
var coveredSections = []string{"Requirements", "When a rollout starts", "The rollout", "Invariants"}

var ruleLine = regexp.MustCompile(`^- ((?:R-[A-Z]+-\d+)|(?:I-\d+))\b`)

// specIDs reads the rule ids of SPEC.md: those of the covered sections, and
// every id of the file.
func specIDs(t *testing.T) (covered, all []string) {
	t.Helper()
	f, err := os.Open(specPath())
	if err != nil {
		t.Fatalf("read SPEC.md (set OSUPGRADE_SPEC to its path): %v", err)
	}
	defer f.Close()
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = h
			continue
		}
		m := ruleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		all = append(all, m[1])
		if slices.ContainsFunc(coveredSections, func(s string) bool { return strings.HasPrefix(section, s) }) {
			covered = append(covered, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(covered) < 30 {
		t.Fatalf("found only %d rule ids in the covered sections of %s: has SPEC.md changed shape?", len(covered), specPath())
	}
	return covered, all
}

// scenarioTags counts the scenarios (outline rows included) tagged with each tag.
func scenarioTags(t *testing.T) map[string]int {
	t.Helper()
	suite := godog.TestSuite{Options: &godog.Options{Paths: []string{"."}}}
	features, err := suite.RetrieveFeatures()
	if err != nil {
		t.Fatalf("parse the features: %v", err)
	}
	tags := map[string]int{}
	for _, f := range features {
		for _, p := range f.Pickles {
			for _, tag := range p.Tags {
				tags[strings.TrimPrefix(tag.Name, "@")]++
			}
		}
	}
	return tags
}

// TestEveryRuleHasAScenario fails when a rule id of SPEC.md's Requirements,
// When a rollout starts, The rollout or Invariants sections has no scenario
// tagged with it, or when a scenario is tagged with an id SPEC.md lacks.
func TestEveryRuleHasAScenario(t *testing.T) {
	covered, all := specIDs(t)
	tags := scenarioTags(t)
	for _, id := range covered {
		if tags[id] == 0 {
			t.Errorf("SPEC rule %s has no scenario tagged @%s in features/*.feature", id, id)
		}
	}
	idTag := regexp.MustCompile(`^(R-[A-Z]+-\d+|I-\d+)$`)
	for tag := range tags {
		if idTag.MatchString(tag) && !slices.Contains(all, tag) {
			t.Errorf("a scenario is tagged @%s, which SPEC.md does not define", tag)
		}
	}
}
