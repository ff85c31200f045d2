package testrun

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkout makes a temporary checkout holding the given files, creating
// parent directories; a name ending in "/" is created as a directory.
func checkout(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadSpec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		files   map[string]string
		command []string
		timeout time.Duration
		source  string
	}{
		{
			name:    "string command",
			files:   map[string]string{".eventide.yml": "command: make test\n"},
			command: []string{"/bin/sh", "-c", "make test"},
			source:  SourceConfig,
		},
		{
			name:    "list command",
			files:   map[string]string{".eventide.yml": "command: [go, test, ./...]\n"},
			command: []string{"go", "test", "./..."},
			source:  SourceConfig,
		},
		{
			name:    "block list command and duration timeout",
			files:   map[string]string{".eventide.yml": "command:\n  - pytest\n  - -x\ntimeout: 90s\n"},
			command: []string{"pytest", "-x"},
			timeout: 90 * time.Second,
			source:  SourceConfig,
		},
		{
			name:    "compound duration",
			files:   map[string]string{".eventide.yml": "command: make\ntimeout: 1m30s\n"},
			command: []string{"/bin/sh", "-c", "make"},
			timeout: 90 * time.Second,
			source:  SourceConfig,
		},
		{
			name:    "integer seconds",
			files:   map[string]string{".eventide.yml": "command: make\ntimeout: 45\n"},
			command: []string{"/bin/sh", "-c", "make"},
			timeout: 45 * time.Second,
			source:  SourceConfig,
		},
		{
			name:    "config wins over tests folder",
			files:   map[string]string{".eventide.yml": "command: make\n", "tests/": ""},
			command: []string{"/bin/sh", "-c", "make"},
			source:  SourceConfig,
		},
		{
			name:    "tests folder default",
			files:   map[string]string{"tests/": "", "README": "hi"},
			command: []string{"python3", "-m", "unittest", "discover", "-s", "tests", "-v"},
			source:  SourceDefault,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec, err := LoadSpec(checkout(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(spec.Command, tc.command) || spec.Timeout != tc.timeout || spec.Source != tc.source {
				t.Fatalf("LoadSpec = %+v, want command %q timeout %v source %q", spec, tc.command, tc.timeout, tc.source)
			}
		})
	}
}

func TestLoadSpecErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		config string
		want   []string // substrings of the message, beyond ErrBadConfig's
	}{
		{"unknown key", "command: make\ncomand: make test\n", []string{"line 2", "comand"}},
		{"broken yaml", "command: make\ntimeout: [90s\n", []string{"yaml: line"}},
		{"bad indentation", "command: make\n  timeout: 5s\n", []string{"yaml: line 2"}},
		{"empty file", "", []string{"empty"}},
		{"empty string command", "command: \"  \"\n", []string{"empty command"}},
		{"empty list command", "command: []\n", []string{"empty command"}},
		{"null command", "command:\ntimeout: 5s\n", []string{"empty command"}},
		{"no command", "timeout: 5s\n", []string{"empty command"}},
		{"command of wrong type", "command: {a: b}\n", []string{"line 1", "string or a list"}},
		{"list item of wrong type", "command:\n  - go\n  - [x]\n", []string{"line 3", "must be strings"}},
		{"empty program", "command: ['', x]\n", []string{"empty program"}},
		{"bad duration", "command: make\ntimeout: soon\n", []string{"line 2", "soon"}},
		{"negative timeout", "command: make\ntimeout: -5s\n", []string{"negative"}},
		{"huge timeout", "command: make\ntimeout: 99999999999999\n", []string{"out of range"}},
		{"float timeout", "command: make\ntimeout: 1.5\n", []string{"line 2", "timeout"}},
		{"not a mapping", "- make\n", []string{"line 1"}},
		{"two documents", "command: make\n---\ncommand: other\n", []string{"line 2", "more than one"}},
		{"duplicate key", "command: a\ncommand: b\n", []string{"line 2"}},
		{"too large", "command: make\n#" + strings.Repeat("x", MaxConfigSize) + "\n", []string{"65536"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadSpec(checkout(t, map[string]string{".eventide.yml": tc.config, "tests/": ""}))
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("err = %v, want ErrBadConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// The config must be a regular file in the checkout: a symlink could make
// the runner read (and quote in errors) files outside it.
func TestLoadSpecRefusesNonRegular(t *testing.T) {
	t.Parallel()
	outside := filepath.Join(t.TempDir(), "secret.yml")
	if err := os.WriteFile(outside, []byte("command: make\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	symlinked := checkout(t, nil)
	if err := os.Symlink(outside, filepath.Join(symlinked, ConfigFile)); err != nil {
		t.Fatal(err)
	}
	dangling := checkout(t, map[string]string{"tests/": ""})
	if err := os.Symlink(filepath.Join(dangling, "nowhere"), filepath.Join(dangling, ConfigFile)); err != nil {
		t.Fatal(err)
	}
	directory := checkout(t, map[string]string{ConfigFile + "/": ""})

	for name, dir := range map[string]string{"symlink": symlinked, "dangling symlink": dangling, "directory": directory} {
		_, err := LoadSpec(dir)
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: err = %v, want ErrBadConfig for a non-regular file", name, err)
		}
	}
}

func TestLoadSpecNoTests(t *testing.T) {
	t.Parallel()
	for name, files := range map[string]map[string]string{
		"empty checkout":     nil,
		"tests is a file":    {"tests": "not a folder"},
		"test folder misnam": {"test/": ""},
	} {
		_, err := LoadSpec(checkout(t, files))
		if !errors.Is(err, ErrNoTests) {
			t.Errorf("%s: err = %v, want ErrNoTests", name, err)
		}
	}
	if want := "no tests found: no .eventide.yml and no tests/ folder"; ErrNoTests.Error() != want {
		t.Errorf("ErrNoTests = %q, want %q", ErrNoTests, want)
	}
}

// Callers may modify the Spec they get; that must not leak into the next.
func TestLoadSpecDefaultIsFresh(t *testing.T) {
	t.Parallel()
	dir := checkout(t, map[string]string{"tests/": ""})
	a, _ := LoadSpec(dir)
	a.Command[0] = "changed"
	if b, _ := LoadSpec(dir); b.Command[0] != "python3" {
		t.Fatalf("default command was shared: %q", b.Command)
	}
}

func TestLoadSpecReportsAndRetry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		config  string
		reports []string
		retry   int
	}{
		{"none", "command: make\n", nil, 0},
		{"list", "command: make\nreports:\n  - build/test-results/**/*.xml\n  - report.json\nretry_failed: 2\n",
			[]string{"build/test-results/**/*.xml", "report.json"}, 2},
		{"one string", "command: make\nreports: 'out/{junit,other}-?.xml'\n", []string{"out/{junit,other}-?.xml"}, 0},
		{"flow list and the most retries", "command: make\nreports: [a.xml, '[ab]/*.xml']\nretry_failed: 5\n",
			[]string{"a.xml", "[ab]/*.xml"}, 5},
		{"zero retries", "command: make\nretry_failed: 0\n", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec, err := LoadSpec(checkout(t, map[string]string{".eventide.yml": tc.config}))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(spec.Reports, tc.reports) || spec.RetryFailed != tc.retry {
				t.Fatalf("reports %q retry_failed %d, want %q and %d", spec.Reports, spec.RetryFailed, tc.reports, tc.retry)
			}
		})
	}
}

// A bad reports: or retry_failed: value is refused with its line, never
// ignored or clamped.
func TestLoadSpecReportsAndRetryErrors(t *testing.T) {
	t.Parallel()
	many := "command: make\nreports:\n" + strings.Repeat("  - a.xml\n", MaxReportGlobs+1)
	for _, tc := range []struct {
		name   string
		config string
		want   []string
	}{
		{"absolute", "command: make\nreports:\n  - /etc/passwd\n", []string{"line 3", "/etc/passwd", "absolute"}},
		{"dot dot", "command: make\nreports: [ok.xml, ../x/*.xml]\n", []string{"line 2", "../x/*.xml", `".."`}},
		{"dot dot inside", "command: make\nreports:\n  - a/../../b.xml\n", []string{"line 3", `".."`}},
		{"empty glob", "command: make\nreports:\n  - ''\n", []string{"line 3", "empty"}},
		{"bad glob", "command: make\nreports:\n  - 'out/[a.xml'\n", []string{"line 3", "not a valid glob"}},
		{"backslash", "command: make\nreports:\n  - 'out\\*.xml'\n", []string{"line 3", "backslash"}},
		{"item not a string", "command: make\nreports:\n  - [a]\n", []string{"line 3", "must be strings"}},
		{"a number", "command: make\nreports: 5\n", []string{"line 2", "list of globs"}},
		{"a mapping", "command: make\nreports: {a: b}\n", []string{"line 2", "list of globs"}},
		{"too many", many, []string{"line 3", "at most 32"}},
		{"retry too many", "command: make\nretry_failed: 6\n", []string{"line 2", "retry_failed 6", "0 to 5"}},
		{"retry negative", "command: make\nretry_failed: -1\n", []string{"line 2", "retry_failed -1"}},
		{"retry a string", "command: make\nretry_failed: twice\n", []string{"line 2", "whole number"}},
		{"retry a float", "command: make\nretry_failed: 1.5\n", []string{"line 2", "whole number"}},
		{"retry a list", "command: make\n\nretry_failed: [1]\n", []string{"line 3", "whole number"}},
		{"misspelt", "command: make\nreport: [a.xml]\n", []string{"line 2", "report"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadSpec(checkout(t, map[string]string{".eventide.yml": tc.config}))
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("err = %v, want ErrBadConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
