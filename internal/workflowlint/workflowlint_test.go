package workflowlint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository's root, where .github/ and action.yml are.
var root = filepath.Join("..", "..")

// TestRepositoryWorkflowsLintClean: every workflow under .github/workflows
// and the composite action action.yml pass actionlint.
func TestRepositoryWorkflowsLintClean(t *testing.T) {
	workflows, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.y*ml"))
	if err != nil || len(workflows) == 0 {
		t.Fatalf("no workflow under .github/workflows (%v)", err)
	}
	rel := make([]string, len(workflows))
	for i, w := range workflows {
		rel[i], _ = filepath.Rel(root, w)
	}
	if err := Lint(context.Background(), root, rel...); err != nil {
		t.Error(err)
	}

	actionYAML, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := lintAction(t, actionYAML); err != nil {
		t.Errorf("action.yml, made a workflow by ActionWorkflow (the lines are that workflow's): %v", err)
	}
}

// lintAction runs actionlint on the workflow ActionWorkflow makes of an
// action, and reports the problems with that action's name.
func lintAction(t *testing.T, actionYAML []byte) error {
	t.Helper()
	wf, err := ActionWorkflow(actionYAML)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "action.yml"), wf, 0o644); err != nil {
		t.Fatal(err)
	}
	err = Lint(context.Background(), dir, "action.yml")
	if err != nil && !errors.Is(err, ErrLint) {
		t.Fatal(err)
	}
	return err
}

const goodAction = `name: a
description: an action
inputs:
  who:
    description: whom to greet
    default: world
outputs:
  greeting:
    description: what was said
    value: ${{ steps.greet.outputs.greeting }}
runs:
  using: composite
  steps:
    - id: greet
      shell: bash
      env:
        WHO: ${{ inputs.who }}
      run: echo "greeting=hello $WHO" >> "$GITHUB_OUTPUT"
    - uses: actions/upload-artifact@v4
      with:
        name: x
        path: .
`

// A composite action GitHub would refuse is refused with ErrAction; one
// whose steps are wrong in ways only a workflow linter sees (an input or a
// step that does not exist, an action input that does not exist) fails
// actionlint once made into a workflow.
func TestActionWorkflow(t *testing.T) {
	for _, c := range []struct {
		name       string
		old, new   string
		wantAction string // a problem ActionWorkflow names, or
		wantLint   string // one actionlint names, or neither
	}{
		{name: "good"},
		{name: "not composite", old: "using: composite", new: "using: node20", wantAction: "runs.using"},
		{name: "run without shell", old: "      shell: bash\n", new: "", wantAction: "without shell"},
		{name: "input without description", old: "description: whom to greet", new: "required: false", wantAction: "input who has no description"},
		{name: "unknown input", old: "inputs.who", new: "inputs.whom", wantLint: `property "whom" is not defined`},
		{name: "unknown step in an output", old: "steps.greet.outputs", new: "steps.greeter.outputs", wantLint: `property "greeter" is not defined`},
		{name: "unknown input of a used action", old: "name: x", new: "nam: x", wantLint: `input "nam" is not defined`},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(goodAction, c.old, c.new, 1)
			if c.wantAction != "" {
				_, err := ActionWorkflow([]byte(src))
				if !errors.Is(err, ErrAction) || !strings.Contains(err.Error(), c.wantAction) {
					t.Errorf("ActionWorkflow: %v, want ErrAction naming %q", err, c.wantAction)
				}
				return
			}
			err := lintAction(t, []byte(src))
			switch {
			case c.wantLint == "" && err != nil:
				t.Errorf("actionlint: %v", err)
			case c.wantLint != "" && (err == nil || !strings.Contains(err.Error(), c.wantLint)):
				t.Errorf("actionlint: %v, want a finding %q", err, c.wantLint)
			}
		})
	}
}

// TestREADMEActionExample: README.md's example of the action (its yaml
// block that starts with jobs:) is a workflow actionlint passes, and gives
// the action only inputs action.yml has, every one of them.
func TestREADMEActionExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var example string
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		if body, _, _ := strings.Cut(block, "```"); strings.HasPrefix(body, "jobs:") {
			example = body
		}
	}
	if example == "" {
		t.Fatal("README.md has no yaml block starting with jobs:")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "example.yml"), []byte("on: push\n"+example), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Lint(context.Background(), dir, "example.yml"); err != nil {
		t.Errorf("README.md's action example: %v", err)
	}

	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	var a action
	actionYAML, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(yaml.Unmarshal([]byte(example), &wf), yaml.Unmarshal(actionYAML, &a)); err != nil {
		t.Fatal(err)
	}
	used := false
	for _, job := range wf.Jobs {
		for _, step := range job.Steps {
			if !strings.HasPrefix(step.Uses, "osupgrade/osupgrade@") {
				continue
			}
			used = true
			for name := range step.With {
				if _, ok := a.Inputs[name]; !ok {
					t.Errorf("README.md's example gives the action input %q, which action.yml does not have", name)
				}
			}
			for name := range a.Inputs {
				if _, ok := step.With[name]; !ok && !strings.Contains(string(readme), "`"+name+"`") {
					t.Errorf("README.md documents neither in its example nor in backquotes action.yml's input %q", name)
				}
			}
		}
	}
	if !used {
		t.Error("README.md's example does not use osupgrade/osupgrade@")
	}
}
