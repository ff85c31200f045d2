package calc

import (
	"fmt"
	"testing"
)

func TestAdd(t *testing.T) {
	if Add(1, 1) != 2 {
		t.Fatal("1+1 is not 2")
	}
}

func TestAddWrong(t *testing.T) {
	t.Log("checking a sum that is wrong on purpose")
	if got := Add(2, 2); got != 5 {
		t.Errorf("Add(2, 2) = %d, want 5", got)
	}
}

func TestSkipped(t *testing.T) {
	t.Skip("needs a database")
}

func TestTable(t *testing.T) {
	for _, c := range []struct{ a, b, want int }{{1, 2, 3}, {2, 2, 5}, {0, 0, 0}} {
		t.Run(fmt.Sprintf("%d+%d", c.a, c.b), func(t *testing.T) {
			if got := Add(c.a, c.b); got != c.want {
				t.Errorf("got %d, want %d\nsecond line of the message", got, c.want)
			}
		})
	}
}

func TestNested(t *testing.T) {
	t.Run("outer", func(t *testing.T) {
		t.Run("inner_ok", func(t *testing.T) {})
		t.Run("inner_skip", func(t *testing.T) { t.Skip("later") })
	})
}

func TestParallel(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if name == "b" {
				t.Error("b failed in parallel")
			}
		})
	}
}
