package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"go.yaml.in/yaml/v3"

	"github.com/eventide-ci/eventide/services/runner"
)

// settings gives a flag not on the command line its value from the environment
// (EVENTIDE_<FLAG>) or, failing that, from the --config file: a flag beats the
// environment, which beats the file. Only settings are read there, never a flag
// tagged invocation (what this run is about).
type settings struct {
	env  func(string) (string, bool)
	app  *kong.Application
	path string            // the --config file, once loaded
	file map[string]string // its keys (flag names) and values
}

// envName is the environment variable of the flag called name.
func envName(name string) string {
	return "EVENTIDE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func isSetting(f *kong.Flag) bool { return !f.Tag.Has("invocation") }

// checkNames refuses declarations whose variable is one a runner sets for jobs.
func checkNames(app *kong.Application) error {
	for name := range settingNames(app) {
		if slices.Contains(runner.JobEnvNames(), envName(name)) {
			return fmt.Errorf("--%s would be read from %s, which runners set for jobs", name, envName(name))
		}
	}
	return nil
}

// settingVars are the variables every setting of every mode is read from,
// sorted: what a runner keeps from its jobs, whatever settings are added.
func settingVars(app *kong.Application) []string {
	var out []string
	for name := range settingNames(app) {
		out = append(out, envName(name))
	}
	slices.Sort(out)
	return out
}

// settingNames is every setting of every mode.
func settingNames(app *kong.Application) map[string]*kong.Flag {
	names := map[string]*kong.Flag{}
	for _, m := range app.Children {
		for _, f := range m.Flags {
			if isSetting(f) {
				names[f.Name] = f
			}
		}
	}
	return names
}

func (s *settings) Validate(*kong.Application) error { return nil }

// BeforeResolve is kong's hook between reading the command line and resolving
// what it left unset: the moment to read the --config file it named.
func (c *cli) BeforeResolve(ctx *kong.Context) error {
	for _, f := range ctx.Model.Flags {
		if path, _ := ctx.FlagValue(f).(string); f.Name == "config" && path != "" {
			return c.settings.load(path)
		}
	}
	return nil
}

// Resolve is called by kong for each flag of the chosen mode that the command
// line left unset.
func (s *settings) Resolve(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
	if !isSetting(f) {
		return nil, nil
	}
	if v, ok := s.env(envName(f.Name)); ok && v != "" {
		return v, checkValue(f, v, "from "+envName(f.Name))
	}
	if v, ok := s.file[f.Name]; ok {
		return v, nil // checked by load
	}
	return nil, nil
}

// checkValue parses v as f would, so that a bad value is reported with where it
// came from (kong's own message names only the flag).
func checkValue(f *kong.Flag, v, source string) error {
	scratch := reflect.New(f.Target.Type()).Elem()
	if err := f.Parse(kong.ScanFromTokens(kong.Token{Type: kong.FlagValueToken, Value: v}), scratch); err != nil {
		// kong names the flag before this error, and its mapper did too.
		msg := strings.TrimPrefix(err.Error(), f.ShortSummary()+": ")
		return fmt.Errorf("%s (%s)", msg, source)
	}
	return nil
}

// load reads the --config file: a YAML mapping from flag names (without the
// dashes) to values. Every key must be a setting of some mode; each mode takes
// the keys it uses, so that one file serves them all.
func (s *settings) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return fmt.Errorf("config %s: %v", path, err)
	}
	s.path, s.file = path, map[string]string{}
	if doc.Kind == 0 {
		return nil
	}
	m := &doc
	if m.Kind == yaml.DocumentNode && len(m.Content) == 1 {
		m = m.Content[0]
	}
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s: want a mapping of settings (key: value), line %d", path, m.Line)
	}
	known := settingNames(s.app)
	flags := flagNames(s.app)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch {
		case known[k.Value] == nil && flags[k.Value]:
			return fmt.Errorf("config %s, line %d: %q is not a setting; give it on the command line", path, k.Line, k.Value)
		case known[k.Value] == nil:
			msg := fmt.Sprintf("config %s, line %d: unknown key %q", path, k.Line, k.Value)
			if n := nearest(k.Value, slices.Collect(maps.Keys(known))); n != "" {
				msg += ", did you mean " + n + "?"
			}
			return errors.New(msg)
		case v.Kind != yaml.ScalarNode || v.Tag == "!!null":
			return fmt.Errorf("config %s, line %d: %s wants a single value", path, v.Line, k.Value)
		}
		if _, dup := s.file[k.Value]; dup {
			return fmt.Errorf("config %s, line %d: %s is set twice", path, k.Line, k.Value)
		}
		// Checked for every mode, so that a mistake shows whichever mode reads the file first.
		if err := checkValue(known[k.Value], v.Value, fmt.Sprintf("in %s, line %d", path, v.Line)); err != nil {
			return fmt.Errorf("%s: %w", known[k.Value].ShortSummary(), err)
		}
		s.file[k.Value] = v.Value
	}
	return nil
}
