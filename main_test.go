package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/services/runner"
)

func TestParseFlagsAfterRepository(t *testing.T) {
	repo := t.TempDir()
	o, err := parseOpts([]string{"--mode=observer", repo, "--interval", "2s", "--dispatcher-server", "127.0.0.1:9000", "--latest-only"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Repo != repo || o.Interval.String() != "2s" || o.DispatcherServer != "127.0.0.1:9000" || !o.LatestOnly {
		t.Fatalf("parsed %+v", o)
	}
}

func TestParseRejects(t *testing.T) {
	repo := t.TempDir()
	cases := map[string][]string{
		"not HOST:PORT":        {"--mode=runner", "--dispatcher-server", "nonsense"},
		"port":                 {"--mode=runner", "--dispatcher-server", "localhost:http"},
		"does not exist":       {"--mode=observer", "/no/such/repo"},
		"needs the repository": {"--mode=observer"},
		"one repository":       {"--mode=runner", repo, repo},
		"--port":               {"--mode=dispatcher", "--port", "70000"},
		"--heartbeat":          {"--mode=dispatcher", "--heartbeat", "1ms"},
		"--slots":              {"--mode=runner", "--slots", "0"},
		"--labels":             {"--mode=runner", "--labels", "a b"},
		"--name":               {"--mode=runner", "--name", "../x"},
		"--max-handshakes":     {"--mode=dispatcher", "--max-handshakes", "8", "--max-handshakes-per-source", "9"},
	}
	for want, args := range cases {
		_, err := parseOpts(args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse(%q) = %v, want an error mentioning %q", args, err, want)
		}
	}
}

func TestNegativeDispatcherTimeoutRejected(t *testing.T) {
	args := []string{"--mode=observer", "--dispatcher-timeout=-1s", t.TempDir()}
	if _, err := parseOpts(args); err == nil || !strings.Contains(err.Error(), "--dispatcher-timeout -1s: want 0 (wait for ever) or more") {
		t.Errorf("parse(%q) = %v, want an error about --dispatcher-timeout", args, err)
	}
}

func TestDefaultNameAndToken(t *testing.T) {
	t.Setenv("EVENTIDE_TOKEN", "from-env")
	o, err := parseOpts([]string{"--mode=runner"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Token != "from-env" || !strings.HasSuffix(o.Name, "-"+strconv.Itoa(os.Getpid())) || o.Port != 8888 ||
		o.DispatcherServer != "localhost:8888" || o.Host != "localhost" {
		t.Fatalf("defaults: %+v", o)
	}
}

// parseOpts parses args with the process's environment.
func parseOpts(args []string) (*options, error) {
	req, err := parse(args, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return req.opts, nil
}

// envOf is an environment of exactly vars.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "eventide.yml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A flag beats the environment, which beats the --config file; the file may hold
// other modes' keys, which this mode leaves alone.
func TestSettingsPrecedence(t *testing.T) {
	cfg := writeConfig(t, "slots: 3\nname: from-file\ngrace: 7s\nport: 1234\ninterval: 9s\ntoken: file-secret\n")
	env := envOf(map[string]string{"EVENTIDE_SLOTS": "2", "EVENTIDE_GRACE": "6s", "EVENTIDE_LABELS": ""})
	req, err := parse([]string{"--mode=runner", "--config", cfg, "--grace", "1s"}, env)
	if err != nil {
		t.Fatal(err)
	}
	o := req.opts
	if o.Grace != time.Second || o.Slots != 2 || o.Name != "from-file" || o.Token != "file-secret" || o.Labels != "" {
		t.Errorf("grace %v (flag 1s), slots %d (env 2), name %q (file), token %q (file), labels %q (empty env: unset)",
			o.Grace, o.Slots, o.Name, o.Token, o.Labels)
	}
	req, err = parse([]string{"--mode=dispatcher", "--config", cfg}, env)
	if err != nil {
		t.Fatal(err)
	}
	if req.opts.Port != 1234 || req.opts.Token != "file-secret" {
		t.Errorf("dispatcher: port %d, token %q; want the file's", req.opts.Port, req.opts.Token)
	}
}

func TestConfigRefused(t *testing.T) {
	for body, wants := range map[string][]string{
		"slot: 3\n":            {`unknown key "slot"`, "did you mean slots"},
		"repo: /tmp\n":         {`"repo" is not a setting`},
		"mode: runner\n":       {`"mode" is not a setting`},
		"commit: abc\n":        {`unknown key "commit"`},
		"job-id: abc\n":        {`unknown key "job-id"`},
		"port: [1, 2]\n":       {"port wants a single value"},
		"port: 1\nport: 2\n":   {"port is set twice", "line 2"},
		"- port\n":             {"want a mapping"},
		"port: abc\n":          {"--port", `"abc"`},
		"grace: 5 seconds\n":   {"--grace"},
		"token: [\n":           {"yaml"},
		"port: 8888\nbad: 1\n": {`unknown key "bad"`, "line 2"},
	} {
		cfg := writeConfig(t, body)
		_, err := parse([]string{"--mode=dispatcher", "--config", cfg}, envOf(nil))
		if err == nil {
			t.Errorf("config %q accepted", body)
			continue
		}
		for _, want := range append(wants, cfg) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("config %q: error %q does not say %q", body, err, want)
			}
		}
	}
	cfg := writeConfig(t, "")
	if _, err := parse([]string{"--mode=dispatcher", "--config", cfg}, envOf(nil)); err != nil {
		t.Errorf("an empty config: %v", err)
	}
}

// The variables a runner gives a job are never read as settings: an eventide
// run inside a job must not take its job's id or commit for a flag.
func TestJobEnvironmentNeverRead(t *testing.T) {
	repo := t.TempDir()
	read := map[string]bool{}
	env := func(k string) (string, bool) { read[k] = true; return "", false }
	for _, args := range [][]string{{}, {"--mode=dispatcher"}, {"--mode=runner"}, {"--mode=observer", repo}, {"notify", repo}} {
		if _, err := parse(args, env); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
	}
	if !read["EVENTIDE_TOKEN"] || !read["EVENTIDE_DISPATCHER_SERVER"] {
		t.Fatalf("settings not read from the environment: %v", read)
	}
	for _, k := range runner.JobEnvNames() {
		if read[k] {
			t.Errorf("%s was read as a setting", k)
		}
	}
	for _, k := range []string{"EVENTIDE_REPO", "EVENTIDE_MODE", "EVENTIDE_CONFIG", "EVENTIDE_DEMO", "EVENTIDE_CONNECT"} {
		if read[k] {
			t.Errorf("%s was read, but it is no setting", k)
		}
	}
}

// Every variable a setting is read from, in any mode, is one a runner hides
// from its jobs: the list comes from the declarations, so a new setting (a
// token file, say) is hidden without anyone remembering to.
func TestRunnerHidesEverySetting(t *testing.T) {
	repo := t.TempDir()
	read := map[string]bool{}
	env := func(k string) (string, bool) { read[k] = true; return "", false }
	var hidden []string
	for _, args := range [][]string{{}, {"--mode=dispatcher"}, {"--mode=runner"}, {"--mode=observer", repo}, {"notify", repo}} {
		o, err := parse(args, env)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		hidden = o.opts.settingVars
		if cfg := runnerConfig(o.opts, nil); !slices.Equal(cfg.HideEnv, hidden) {
			t.Errorf("%q: the runner hides %v, want %v", args, cfg.HideEnv, hidden)
		}
	}
	for k := range read {
		if !slices.Contains(hidden, k) {
			t.Errorf("%s is read as a setting but not hidden from jobs", k)
		}
	}
	for _, k := range append(runner.JobEnvNames(), "EVENTIDE_REPO", "EVENTIDE_CONFIG") {
		if slices.Contains(hidden, k) {
			t.Errorf("%s is hidden, but it is no setting", k)
		}
	}
	for _, k := range []string{"EVENTIDE_TOKEN", "EVENTIDE_DATA_DIR", "EVENTIDE_JOB_USER", "EVENTIDE_DISPATCHER_SERVER"} {
		if !slices.Contains(hidden, k) {
			t.Errorf("%s is not hidden from jobs: %v", k, hidden)
		}
	}
}

func TestFlagOfAnotherMode(t *testing.T) {
	repo := t.TempDir()
	for _, tc := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"--mode=observer", "--job-timeout", "3s", repo}, []string{"--job-timeout is for", "--mode=runner", "not --mode=observer", "see eventide help observer"}},
		{[]string{"notify", repo, "--dispatcher-timeout", "3s"}, []string{"--dispatcher-timeout is for", "--mode=observer", "not notify"}},
		{[]string{"--slots=2"}, []string{"--slots is for --mode=runner, not the console", "see eventide --help"}},
		{[]string{"notify", repo, "--demo"}, []string{"--demo is for the console, not notify"}},
		{[]string{"--mode=runer"}, []string{`unknown mode "runer", did you mean runner?`}},
		{[]string{"help", "obsrver"}, []string{"did you mean observer?"}},
		{[]string{"--bogus"}, []string{"unknown flag --bogus", "see eventide --help"}},
	} {
		_, err := parse(tc.args, envOf(nil))
		for _, want := range tc.wants {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("parse(%q) = %v, want an error saying %q", tc.args, err, want)
			}
		}
	}
}

// The old one-dash spelling (-port 9000), which Go's flag package took, still works.
func TestOneDashFlags(t *testing.T) {
	o, err := parseOpts([]string{"-mode=dispatcher", "-port", "9000", "-no-result-files"})
	if err != nil {
		t.Fatal(err)
	}
	if o.mode != "dispatcher" || o.Port != 9000 || !o.NoResultFiles {
		t.Fatalf("parsed %+v", o)
	}
}

func TestVersionLine(t *testing.T) {
	info := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionLine(info), "eventide "+version+" protocol "; !strings.HasPrefix(got, want) ||
		!strings.HasSuffix(got, "revision 0123456789abcdef 2026-01-02T03:04:05Z (modified)") {
		t.Errorf("versionLine = %q", got)
	}
	if got := versionLine(nil); !strings.HasSuffix(got, "revision unknown") {
		t.Errorf("without build info: %q", got)
	}
}
