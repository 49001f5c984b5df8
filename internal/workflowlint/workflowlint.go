// Package workflowlint checks GitHub Actions files with actionlint: this
// repository's workflows and its composite action (action.yml), and the
// workflows `osupgrade init` writes. `make lint-workflows` (part of `make
// test`) runs its tests and internal/scaffold's.
//
// actionlint lints workflows, not actions: of a local action a workflow
// uses it checks only the input names. So ActionWorkflow turns a composite
// action into a reusable workflow holding the same steps, and actionlint
// then checks their expressions, the inputs of the actions they use and,
// when shellcheck is on PATH, their scripts.
package workflowlint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Actionlint is the actionlint command the checks run, pinned so that a
// new release's rules do not fail a build that passed.
// OSUPGRADE_ACTIONLINT names another (a binary on PATH, say).
const Actionlint = "go run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

// ErrLint is returned when actionlint reports a problem.
var ErrLint = errors.New("actionlint found problems")

// ErrAction is returned for an action.yml that is not a composite action
// actionlint can be run on.
var ErrAction = errors.New("bad action metadata")

// Lint runs actionlint on files (paths relative to dir, or absolute) with
// dir as its working directory. Its findings are in the error.
func Lint(ctx context.Context, dir string, files ...string) error {
	command := strings.Fields(Actionlint)
	if c := os.Getenv("OSUPGRADE_ACTIONLINT"); c != "" {
		command = strings.Fields(c)
	}
	cmd := exec.CommandContext(ctx, command[0], append(command[1:], append([]string{"-no-color"}, files...)...)...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return fmt.Errorf("%w:\n%s", ErrLint, out.Bytes())
	default:
		return fmt.Errorf("%s: %w\n%s", strings.Join(command, " "), err, out.Bytes())
	}
}

type actionInput struct {
	Description string `yaml:"description"`
	Required    bool   `yaml:"required"`
	Default     string `yaml:"default"`
}

type actionOutput struct {
	Description string `yaml:"description"`
	Value       string `yaml:"value"`
}

type action struct {
	Name        string                  `yaml:"name"`
	Description string                  `yaml:"description"`
	Inputs      map[string]actionInput  `yaml:"inputs"`
	Outputs     map[string]actionOutput `yaml:"outputs"`
	Runs        struct {
		Using string           `yaml:"using"`
		Steps []map[string]any `yaml:"steps"`
	} `yaml:"runs"`
}

// ActionWorkflow returns a reusable workflow (on: workflow_call) with the
// composite action's inputs as its inputs, its steps as one job's steps and
// its outputs as that job's outputs, for actionlint. It checks what GitHub
// requires of a composite action and actionlint would not see in the
// workflow: a name and description, a description for every input and
// output, a shell on every run step.
func ActionWorkflow(actionYAML []byte) ([]byte, error) {
	var a action
	if err := yaml.Unmarshal(actionYAML, &a); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAction, err)
	}
	var problems []string
	if a.Name == "" || a.Description == "" {
		problems = append(problems, "name and description are required")
	}
	if a.Runs.Using != "composite" {
		problems = append(problems, fmt.Sprintf("runs.using is %q, want composite", a.Runs.Using))
	}
	if len(a.Runs.Steps) == 0 {
		problems = append(problems, "runs.steps is empty")
	}
	inputs := map[string]any{}
	for name, in := range a.Inputs {
		if in.Description == "" {
			problems = append(problems, fmt.Sprintf("input %s has no description", name))
		}
		spec := map[string]any{"type": "string", "required": in.Required, "description": in.Description}
		if in.Default != "" {
			spec["default"] = in.Default
		}
		inputs[name] = spec
	}
	outputs := map[string]any{}
	for name, out := range a.Outputs {
		if out.Description == "" || out.Value == "" {
			problems = append(problems, fmt.Sprintf("output %s needs a description and a value", name))
		}
		outputs[name] = out.Value
	}
	for i, step := range a.Runs.Steps {
		_, run := step["run"]
		_, uses := step["uses"]
		if run == uses {
			problems = append(problems, fmt.Sprintf("step %d has to have one of run and uses", i+1))
		}
		if run && step["shell"] == nil {
			problems = append(problems, fmt.Sprintf("step %d (%v) runs a script without shell (a composite action's run steps need one)", i+1, step["name"]))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("%w: %s", ErrAction, strings.Join(problems, "; "))
	}
	workflow := map[string]any{
		"name": "action " + a.Name,
		"on":   map[string]any{"workflow_call": map[string]any{"inputs": inputs}},
		"jobs": map[string]any{"action": map[string]any{
			"runs-on": "ubuntu-latest",
			"outputs": outputs,
			"steps":   a.Runs.Steps,
		}},
	}
	return yaml.Marshal(workflow)
}
