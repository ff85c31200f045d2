package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A result's usage figures (version 7) are optional, and when present a
// non-negative integer within their bound; null is absent, as for any member.
func TestResultUsage(t *testing.T) {
	base := `"job_id":"00112233445566aa","attempt":1,"status":"passed","exit_code":0,"summary":{"passed":1,"failed":0,"errors":0,"skipped":0},"started_at":"2026-01-02T03:04:05Z","finished_at":"2026-01-02T03:04:06Z","output_bytes":10`
	cases := []struct {
		name, members string
		cpu, peak     int64  // -1: absent
		err           string // "" when it must be accepted
	}{
		{"absent", ``, -1, -1, ""},
		{"null", `,"cpu_ms":null,"peak_memory_bytes":null`, -1, -1, ""},
		{"zero", `,"cpu_ms":0,"peak_memory_bytes":0`, 0, 0, ""},
		{"cpu only", `,"cpu_ms":1234`, 1234, -1, ""},
		{"both", `,"cpu_ms":1234,"peak_memory_bytes":129394278`, 1234, 129394278, ""},
		{"at the bounds", `,"cpu_ms":1000000000000,"peak_memory_bytes":1125899906842624`, MaxCPUMS, MaxPeakMemoryBytes, ""},
		{"negative cpu", `,"cpu_ms":-1`, 0, 0, "cpu_ms -1: want 0-1000000000000"},
		{"negative memory", `,"peak_memory_bytes":-5`, 0, 0, "peak_memory_bytes -5: want 0-1125899906842624"},
		{"cpu too big", `,"cpu_ms":1000000000001`, 0, 0, "cpu_ms 1000000000001: want 0-"},
		{"memory too big", `,"peak_memory_bytes":1125899906842625`, 0, 0, "peak_memory_bytes 1125899906842625: want 0-"},
		{"cpu fraction", `,"cpu_ms":1.5`, 0, 0, `"/cpu_ms": want an integer`},
		{"cpu string", `,"cpu_ms":"12"`, 0, 0, `"/cpu_ms": want an integer, got a string`},
		{"memory overflow", `,"peak_memory_bytes":99999999999999999999`, 0, 0, `"/peak_memory_bytes": want an integer`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Result
			err := Decode(MethodJobResult, json.RawMessage("{"+base+tc.members+"}"), &r)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Decode = %v, want an error with %q", err, tc.err)
				}
				if e, ok := err.(*Error); !ok || e.Code != CodeInvalidParams {
					t.Errorf("error %v is not -32602", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			for _, f := range []struct {
				name string
				got  *int64
				want int64
			}{{"cpu_ms", r.CPUMS, tc.cpu}, {"peak_memory_bytes", r.PeakMemoryBytes, tc.peak}} {
				switch {
				case f.want < 0 && f.got != nil:
					t.Errorf("%s = %d, want absent", f.name, *f.got)
				case f.want >= 0 && (f.got == nil || *f.got != f.want):
					t.Errorf("%s = %v, want %d", f.name, f.got, f.want)
				}
			}
		})
	}
}

// Unmeasured figures are left out of a result, never sent as 0.
func TestResultUsageOmitted(t *testing.T) {
	now := time.Now()
	r := Result{JobID: "00112233445566aa", Attempt: 1, Status: StatusPassed, StartedAt: now, FinishedAt: now}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "cpu_ms") || strings.Contains(s, "peak_memory") {
		t.Errorf("unmeasured usage is sent: %s", s)
	}
	zero := int64(0)
	r.CPUMS = &zero
	b, _ = json.Marshal(&r)
	if !strings.Contains(string(b), `"cpu_ms":0`) {
		t.Errorf("a measured 0 is not sent: %s", b)
	}
}
