package steps

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/cucumber/godog"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// The vocabulary `osupgrade features --steps` prints is the one godog
// registers, in its order, and every step says what it does.
func TestVocabularyIsWhatGodogRegisters(t *testing.T) {
	var buf bytes.Buffer
	suite := godog.TestSuite{
		ScenarioInitializer: Initializer(Config{}),
		Options:             &godog.Options{ShowStepDefinitions: true, Output: &buf, NoColors: true, Format: "pretty"},
	}
	suite.Run()
	var registered []string
	// godog colours the definitions whatever NoColors says.
	for line := range strings.Lines(ansi.ReplaceAllString(buf.String(), "")) {
		if pattern, _, ok := strings.Cut(line, " # "); ok {
			registered = append(registered, strings.TrimSpace(pattern))
		}
	}
	vocab := Vocabulary()
	if len(vocab) != len(registered) {
		t.Fatalf("Vocabulary lists %d steps, godog registers %d:\n%s", len(vocab), len(registered), buf.String())
	}
	used := map[string]bool{}
	for i, d := range vocab {
		if d.Pattern != registered[i] {
			t.Errorf("step %d: Vocabulary lists %s, godog registers %s", i, d.Pattern, registered[i])
		}
		if d.Help == "" || d.Noun == "" {
			t.Errorf("step %s has no help or noun (help.go is keyed by the method's name)", d.Pattern)
		}
		used[d.Help] = true
	}
	for name, h := range help {
		if !used[h] {
			t.Errorf("help.go describes %s, which implements no step", name)
		}
	}
}
