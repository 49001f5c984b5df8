package features

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cucumber/godog"

	"github.com/osupgrade/osupgrade/orchestrator"
)

// repoRules is the rulebook of this repository.
var repoRules = filepath.Join("..", "docs", "rules.md")

// rulesPath is the rulebook whose ids the tests check: docs/rules.md, or
// OSUPGRADE_SPEC (named after SPEC.md, the rulebook's name when it lived
// beside the repository).
func rulesPath() string {
	if p := os.Getenv("OSUPGRADE_SPEC"); p != "" {
		return p
	}
	return repoRules
}

// coveredSections are the rulebook's sections whose every rule id needs a scenario.
var coveredSections = []string{"Requirements", "When a rollout starts", "The rollout", "Invariants"}

// ruleLine is a rule's definition: a list item that starts with its id.
var ruleLine = regexp.MustCompile(`^- ((?:R-[A-Z]+-\d+)|(?:I-\d+))\b`)

// ruleID is an id cited anywhere.
var ruleID = regexp.MustCompile(`\b(R-[A-Z]+-\d+|I-\d+)\b`)

// specIDs reads the rule ids the rulebook defines: those of the covered
// sections, and every one of the file.
func specIDs(t *testing.T) (covered, all []string) {
	t.Helper()
	f, err := os.Open(rulesPath())
	if err != nil {
		t.Fatalf("read the rules (set OSUPGRADE_SPEC to their path): %v", err)
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
		if slices.Contains(all, m[1]) {
			t.Errorf("%s defines %s twice", rulesPath(), m[1])
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
		t.Fatalf("found only %d rule ids in the covered sections of %s: have the rules changed shape?", len(covered), rulesPath())
	}
	return covered, all
}

// citedIDs maps every rule id cited in the repository's Go files, features,
// scenario files and Markdown pages (the rulebook aside) to a file citing it.
func citedIDs(t *testing.T) map[string]string {
	t.Helper()
	root := ".."
	rules, err := filepath.Abs(rulesPath())
	if err != nil {
		t.Fatal(err)
	}
	cited := map[string]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		switch ext := filepath.Ext(path); {
		case ext == ".go", ext == ".feature", ext == ".md":
		case ext == ".yaml" && filepath.Dir(rel) == "scenarios":
		default:
			return nil
		}
		if abs, _ := filepath.Abs(path); abs == rules {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, id := range ruleID.FindAllString(string(data), -1) {
			if _, ok := cited[id]; !ok {
				cited[id] = rel
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the repository: %v", err)
	}
	return cited
}

// TestRulesAreTheIDsTheRepositoryCites fails when the code, features,
// scenarios or docs cite a rule id that docs/rules.md does not define, or
// when docs/rules.md defines an id that nothing cites: the rulebook and the
// code cannot drift apart.
func TestRulesAreTheIDsTheRepositoryCites(t *testing.T) {
	_, defined := specIDs(t)
	cited := citedIDs(t)
	for id, file := range cited {
		if !slices.Contains(defined, id) {
			t.Errorf("%s cites %s, which %s does not define", file, id, rulesPath())
		}
	}
	for _, id := range defined {
		if _, ok := cited[id]; !ok {
			t.Errorf("%s defines %s, which no Go file, feature, scenario or other page cites", rulesPath(), id)
		}
	}
}

// skuRow is a row of the rulebook's table of supported platform images.
var skuRow = regexp.MustCompile(`^\| *([A-Za-z]+) *\| *([A-Za-z]+) *\| *([0-9][\w.-]*) *\|$`)

// TestRulesListTheSKUsTheOrchestratorAccepts fails when R-REQ-6's table in
// docs/rules.md and orchestrator.SupportedPlatformSKUs differ.
func TestRulesListTheSKUsTheOrchestratorAccepts(t *testing.T) {
	data, err := os.ReadFile(repoRules)
	if err != nil {
		t.Fatalf("read the rules: %v", err)
	}
	var listed []string
	for line := range strings.Lines(string(data)) {
		if m := skuRow.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			listed = append(listed, m[1]+":"+m[2]+":"+m[3])
		}
	}
	if !slices.Equal(listed, orchestrator.SupportedPlatformSKUs) {
		t.Errorf("%s lists the platform images\n%s\nthe orchestrator accepts\n%s", repoRules, strings.Join(listed, "\n"), strings.Join(orchestrator.SupportedPlatformSKUs, "\n"))
	}
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

// TestEveryRuleHasAScenario fails when a rule id of docs/rules.md's
// Requirements, When a rollout starts, The rollout or Invariants sections has
// no scenario tagged with it, or when a scenario is tagged with an id
// docs/rules.md lacks.
func TestEveryRuleHasAScenario(t *testing.T) {
	covered, all := specIDs(t)
	tags := scenarioTags(t)
	for _, id := range covered {
		if tags[id] == 0 {
			t.Errorf("rule %s has no scenario tagged @%s in features/*.feature", id, id)
		}
	}
	for tag := range tags {
		if ruleID.FindString(tag) == tag && !slices.Contains(all, tag) {
			t.Errorf("a scenario is tagged @%s, which %s does not define", tag, rulesPath())
		}
	}
}
