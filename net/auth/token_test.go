package auth_test

import (
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/auth"
)

func TestSharedToken(t *testing.T) {
	long := strings.Repeat("k", 1024)
	cases := []struct {
		want, got string
		ok        bool
	}{
		{"", "", true},
		{"", "anything", true}, // no token configured: everyone is admitted
		{"s3cret", "s3cret", true},
		{"s3cret", "", false},
		{"s3cret", "S3CRET", false},
		{"s3cret", "s3cre", false},
		{"s3cret", "s3cret ", false},
		{"s3cret", " s3cret", false},
		{"s3cret", "s3cret\n", false},
		{"s3cret", "s3cret\x00", false},
		{"pässwörd", "pässwörd", true},
		{"pässwörd", "passwort", false},
		{long, long, true},
		{long, long[:1023], false},
		{long, long + "k", false},
		{"a", strings.Repeat("a", 1<<16), false},
	}
	for _, tc := range cases {
		if _, got := auth.NewKeyring(tc.want).Lookup(tc.got); got != tc.ok {
			t.Errorf("NewKeyring(%q).Lookup(%q) = %v, want %v", clipped(tc.want), clipped(tc.got), got, tc.ok)
		}
	}
}

func clipped(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
