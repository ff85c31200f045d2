package wire

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClipText(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "hello", 10, "hello"},
		{"exact", "hello", 5, "hello"},
		{"ascii cut", "hello", 3, "hel"},
		{"invalid bytes", "a\xffb\xfe\xfdc", 10, "a?b?c"},
		{"cut before a two-byte rune", "abé", 3, "ab"},
		{"cut inside a three-byte rune", "a€b", 3, "a"},
		{"cut inside a four-byte rune", "x😀", 4, "x"},
		{"cut after a rune", "é€", 5, "é€"},
		{"nothing fits", "€", 2, ""},
		{"zero", "abc", 0, ""},
		{"invalid then cut", "\xff\xffé", 2, "?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Clip(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}

	// Long hostile text always comes out valid and within the limit.
	for _, s := range []string{
		strings.Repeat("é", 3000),
		strings.Repeat("\xff", 5000),
		"a" + strings.Repeat("😀", 2000),
		strings.Repeat("ab\xc3", 2000),
	} {
		for _, n := range []int{1, 2, 3, 511, 512, 4095, 4096} {
			got := Clip(s, n)
			floor := min(len(strings.ToValidUTF8(s, "?")), n) - 3
			if !utf8.ValidString(got) || len(got) > n || len(got) < floor {
				t.Errorf("Clip(%.10q..., %d): %d bytes, valid %v", s, n, len(got), utf8.ValidString(got))
			}
		}
	}
}
