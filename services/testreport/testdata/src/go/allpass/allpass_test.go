package allpass

import "testing"

func TestOne(t *testing.T) {}
func TestTwo(t *testing.T) {}
