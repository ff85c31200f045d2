package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParseFlagsAfterRepository(t *testing.T) {
	repo := t.TempDir()
	o, err := parse([]string{"--mode=observer", repo, "--interval", "2s", "--dispatcher-server", "127.0.0.1:9000", "--latest-only"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.repo != repo || o.interval.String() != "2s" || o.dispatcherServer != "127.0.0.1:9000" || !o.latestOnly {
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
		_, err := parse(args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse(%q) = %v, want an error mentioning %q", args, err, want)
		}
	}
}

func TestDefaultNameAndToken(t *testing.T) {
	t.Setenv("EVENTIDE_TOKEN", "from-env")
	o, err := parse([]string{"--mode=runner"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.token != "from-env" || !strings.HasSuffix(o.name, "-"+strconv.Itoa(os.Getpid())) || o.port != 8888 ||
		o.dispatcherServer != "localhost:8888" || o.host != "localhost" {
		t.Fatalf("defaults: %+v", o)
	}
}
