package spec

import (
	"strings"
	"testing"
)

func TestValidateResolution(t *testing.T) {
	for _, c := range []struct {
		res int
		ok  bool
	}{{16, false}, {32, true}, {48, false}, {64, true}, {128, true}, {256, true}, {512, false}} {
		cfg := DefaultConfig()
		cfg.Res = c.res
		err := cfg.Validate()
		if (err == nil) != c.ok {
			t.Errorf("res %d: %v, want ok=%v", c.res, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "32, 64, 128 or 256") {
			t.Errorf("res %d: %q does not say which sides work", c.res, err)
		}
	}
}
