package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
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
	}
	for want, args := range cases {
		_, err := parseOpts(args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse(%q) = %v, want an error mentioning %q", args, err, want)
		}
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
