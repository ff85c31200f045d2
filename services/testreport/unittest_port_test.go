package testreport

import (
	"slices"
	"strings"
	"testing"
)

// Cases carried over from the runner's former unittest parser
// (services/testrun/unittest_test.go), for the shapes the fixtures do not
// show: a run cut short, the closing line alone, headers without per-test
// lines, hostile names. Counts are passed/failed/errors/skipped.
func TestUnittestFormerParserCases(t *testing.T) {
	t.Parallel()
	sep, rule := strings.Repeat("=", 70)+"\n", strings.Repeat("-", 70)+"\n"
	for _, tc := range []struct {
		name    string
		in      string
		counts  [4]int
		failing []string
	}{
		{"singular and skipped", "Ran 1 test in 0.000s\n\nOK (skipped=1)\n", [4]int{0, 0, 0, 1}, nil},
		{"closing line missing: per-test lines",
			"test_a (m.T.test_a) ... ok\ntest_b (m.T.test_b) ... FAIL\ntest_c (m.T.test_c) ... skipped 'x ... y'\nRan 3 tests in 0.1s\n",
			[4]int{1, 1, 0, 1}, []string{"test_b (m.T.test_b)"}},
		{"killed mid-run",
			"test_a (m.T.test_a)\nDocstring of a. ... ok\ntest_b (m.T.test_b) ... ERROR\n" +
				"test_c (m.T.test_c) ... expected failure\ntest_d (m.T.test_d) ... unexpected success\n" +
				"test_e (m.T.test_e) ... skipped\ntest_f (m.T.test_f) ... ",
			[4]int{1, 1, 1, 2}, []string{"test_b (m.T.test_b)", "test_d (m.T.test_d)"}},
		{"plain line", "building...\n12 passed, 3 failed\n", [4]int{12, 3, 0, 0}, nil},
		{"headers only, a method with a failing subtest and a tearDown error listed once",
			sep + "ERROR: test_e (m.T.test_e)\n----\n" + sep + "FAIL: test_f (m.T.test_f)\nDocstring line.\n----\n" +
				sep + "FAIL: test_s (m.T.test_s) (i=1)\n" + sep + "FAIL: test_f (m.T.test_f)\n" +
				"FAIL: not after a separator (x.y)\nERROR: logged by a test\n" + rule +
				"Ran 4 tests in 0.1s\n\nFAILED (failures=3, errors=1)\n",
			[4]int{1, 2, 1, 0}, []string{"test_e (m.T.test_e)", "test_f (m.T.test_f)", "test_s (m.T.test_s)", "test_s (m.T.test_s) (i=1)"}},
		{"hostile names are cleaned",
			sep + "FAIL: test_\x1b[31mred\x1b[0m (m.T) \u202eevil\u202c\n" + sep + "ERROR: \xff\xfebad (m.T)\n" + sep + "FAIL:    \n",
			[4]int{0, 1, 1, 0}, []string{"test_red (m.T) evil", "\ufffdbad (m.T)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			c := r.Totals
			if got := [4]int{c.Passed.N, c.Failed.N, c.Errors.N, c.Skipped.N}; got != tc.counts {
				t.Errorf("counts %v, want %v", got, tc.counts)
			}
			var ids []string
			for _, f := range r.Failing() {
				ids = append(ids, f.ID)
			}
			if !slices.Equal(ids, tc.failing) {
				t.Errorf("failing %q, want %q", ids, tc.failing)
			}
		})
	}
}
