package testrun

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"go.yaml.in/yaml/v3"
)

const (
	// ConfigFile is the per-repository test configuration, relative to the
	// checkout root.
	ConfigFile = ".eventide.yml"

	// MaxConfigSize bounds what LoadSpec will read. The file comes from an
	// arbitrary commit, and a runner must not be made to buffer gigabytes
	// to learn a one-line command.
	MaxConfigSize = 64 << 10

	// SourceConfig and SourceDefault are the values of Spec.Source.
	SourceConfig  = ConfigFile
	SourceDefault = "default (tests/ folder)"

	// MaxReportGlobs bounds the reports: list, and MaxGlobLen each glob.
	MaxReportGlobs = 32
	MaxGlobLen     = 512
	// MaxRetryFailed is the most re-runs retry_failed may ask for (the
	// wire's limit too).
	MaxRetryFailed = 5
)

// Spec is how to test one checkout.
type Spec struct {
	Command []string      // argv; a YAML string is run as []string{"/bin/sh", "-c", s}
	Timeout time.Duration // 0 = use the caller's default
	Source  string        // ".eventide.yml" or "default (tests/ folder)" for logs
	// Reports are globs of report files (JUnit XML, go test -json output)
	// relative to the checkout, matched after the command ends, in
	// doublestar's syntax: "*" within a path segment, "**" across segments,
	// "?", "[a-z]" and "{a,b}". They are validated: relative, without ".."
	// segments.
	Reports []string
	// RetryFailed is how many times a failed job is re-run (0-5).
	RetryFailed int
}

// defaultCommand returns a fresh slice each time so that callers may modify
// the Spec they were given.
func defaultCommand() []string {
	return []string{"python3", "-m", "unittest", "discover", "-s", "tests", "-v"}
}

// LoadSpec decides how to test the checkout in dir. An .eventide.yml file
// wins; without one, a tests/ directory means Python unittest discovery;
// otherwise the result is ErrNoTests. Every problem with the file itself
// wraps ErrBadConfig and, where the parser knows it, names the line.
func LoadSpec(dir string) (Spec, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := readConfig(path)
	switch {
	case err == nil:
		return parseConfig(data)
	case !errors.Is(err, fs.ErrNotExist):
		return Spec{}, err
	}

	fi, err := os.Stat(filepath.Join(dir, "tests"))
	switch {
	case err == nil && fi.IsDir():
		return Spec{Command: defaultCommand(), Source: SourceDefault}, nil
	case err == nil || errors.Is(err, fs.ErrNotExist):
		return Spec{}, ErrNoTests
	default:
		return Spec{}, fmt.Errorf("testrun: looking for tests/: %w", err)
	}
}

// readConfig reads the config file, refusing anything but a small regular
// file. The checkout is attacker-controlled: a symlink could point the
// runner at its own secrets (and echo them back in a parse error), and a
// FIFO or device could block or flood it.
func readConfig(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err // fs.ErrNotExist is the caller's cue to fall back
	}
	if err := checkConfigInfo(fi); err != nil {
		return nil, err
	}
	// The Lstat above gives clear errors; the flags and the Stat below make
	// the checks hold for the file actually opened, should it be swapped in
	// between. O_NONBLOCK keeps a swapped-in FIFO from blocking the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if err := checkConfigInfo(fi); err != nil {
		return nil, err
	}
	// Read one byte past the limit so a file that grew since Stat is caught.
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadConfig, MaxConfigSize)
	}
	return data, nil
}

func checkConfigInfo(fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file (mode %v)", ErrBadConfig, fi.Mode().Type())
	}
	if fi.Size() > MaxConfigSize {
		return fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrBadConfig, fi.Size(), MaxConfigSize)
	}
	return nil
}

// fileConfig is the schema of .eventide.yml.
type fileConfig struct {
	Command     commandField `yaml:"command"`
	Timeout     timeoutField `yaml:"timeout"`
	Reports     reportsField `yaml:"reports"`
	RetryFailed retryField   `yaml:"retry_failed"`
}

func parseConfig(data []byte) (Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	// A misspelt key ("comand:", "timout:") would otherwise be silently
	// ignored and the job run with defaults the author did not intend.
	dec.KnownFields(true)
	var cfg fileConfig
	err := dec.Decode(&cfg)
	switch {
	case errors.Is(err, io.EOF):
		return Spec{}, fmt.Errorf("%w: file is empty: %w", ErrBadConfig, ErrEmptyCommand)
	case err != nil:
		return Spec{}, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	// Only the first document would be used; a second one is almost
	// certainly a mistake, so say so rather than ignore it.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return Spec{}, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		return Spec{}, fmt.Errorf("%w: line %d: more than one YAML document", ErrBadConfig, extra.Line)
	}
	if len(cfg.Command) == 0 {
		return Spec{}, fmt.Errorf("%w: no command: %w", ErrBadConfig, ErrEmptyCommand)
	}
	return Spec{
		Command:     []string(cfg.Command),
		Timeout:     time.Duration(cfg.Timeout),
		Source:      SourceConfig,
		Reports:     []string(cfg.Reports),
		RetryFailed: int(cfg.RetryFailed),
	}, nil
}

// commandField accepts a shell string or an argv list. Empty strings decode
// to an empty command so that parseConfig reports them in one place.
type commandField []string

func (c *commandField) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		if strings.TrimSpace(n.Value) == "" {
			*c = nil
			return nil
		}
		*c = []string{"/bin/sh", "-c", n.Value}
		return nil
	case n.Kind == yaml.SequenceNode:
		argv := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.ShortTag() != "!!str" {
				return typeError(item, "command list items must be strings")
			}
			argv = append(argv, item.Value)
		}
		if len(argv) > 0 && argv[0] == "" {
			return typeError(n, "command list starts with an empty program name")
		}
		*c = argv
		return nil
	}
	return typeError(n, "command must be a string or a list of strings")
}

// timeoutField accepts a Go duration string ("90s", "1m30s") or a whole
// number of seconds.
type timeoutField time.Duration

func (t *timeoutField) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "timeout must be a duration like \"90s\" or a number of seconds")
	}
	var d time.Duration
	switch n.ShortTag() {
	case "!!int":
		var secs int64
		if err := n.Decode(&secs); err != nil || secs > math.MaxInt64/int64(time.Second) {
			return typeError(n, fmt.Sprintf("timeout %s is out of range", n.Value))
		}
		d = time.Duration(secs) * time.Second
	case "!!str":
		var err error
		if d, err = time.ParseDuration(n.Value); err != nil {
			return typeError(n, fmt.Sprintf("timeout: %v", err))
		}
	default:
		return typeError(n, "timeout must be a duration like \"90s\" or a number of seconds")
	}
	if d < 0 {
		return typeError(n, fmt.Sprintf("timeout %s is negative", n.Value))
	}
	*t = timeoutField(d)
	return nil
}

// reportsField accepts a list of globs (or one glob as a string), each
// relative to the checkout and never leaving it by "..": the runner also
// refuses, when collecting, any path that a symlink leads outside.
type reportsField []string

func (g *reportsField) UnmarshalYAML(n *yaml.Node) error {
	items := []*yaml.Node{n}
	switch {
	case n.Kind == yaml.SequenceNode:
		items = n.Content
	case n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str":
		return typeError(n, "reports must be a list of globs like \"build/test-results/*.xml\"")
	}
	if len(items) > MaxReportGlobs {
		return typeError(n, fmt.Sprintf("reports has %d globs, at most %d", len(items), MaxReportGlobs))
	}
	globs := make([]string, 0, len(items))
	for _, item := range items {
		if item.Kind != yaml.ScalarNode || item.ShortTag() != "!!str" {
			return typeError(item, "reports list items must be strings (globs)")
		}
		if err := checkGlob(item.Value); err != nil {
			return typeError(item, fmt.Sprintf("reports glob %q: %v", clipGlob(item.Value), err))
		}
		globs = append(globs, item.Value)
	}
	*g = globs
	return nil
}

// checkGlob refuses a glob that is empty, absolute, leaves the checkout by
// "..", or that doublestar cannot parse.
func checkGlob(glob string) error {
	switch {
	case strings.TrimSpace(glob) == "":
		return errors.New("empty")
	case len(glob) > MaxGlobLen:
		return fmt.Errorf("%d bytes, at most %d", len(glob), MaxGlobLen)
	case strings.HasPrefix(glob, "/"):
		return errors.New("absolute: globs are relative to the checkout")
	case strings.ContainsAny(glob, "\x00\\"):
		return errors.New("has a NUL or a backslash: use \"/\" between directories")
	case !doublestar.ValidatePattern(glob):
		return errors.New("not a valid glob (an unclosed [ or {?)")
	}
	for seg := range strings.SplitSeq(glob, "/") {
		if seg == ".." {
			return errors.New("has a \"..\" segment: reports must be inside the checkout")
		}
	}
	return nil
}

func clipGlob(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// retryField accepts a whole number from 0 to MaxRetryFailed.
type retryField int

func (r *retryField) UnmarshalYAML(n *yaml.Node) error {
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		return typeError(n, fmt.Sprintf("retry_failed must be a whole number from 0 to %d", MaxRetryFailed))
	}
	if v < 0 || v > MaxRetryFailed {
		return typeError(n, fmt.Sprintf("retry_failed %s: want 0 to %d", n.Value, MaxRetryFailed))
	}
	*r = retryField(v)
	return nil
}

// typeError reports through yaml's own aggregation so that our messages
// read like the parser's: "yaml: unmarshal errors:\n  line N: ...".
func typeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}
