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

func TestValidateLossAndDiscWidth(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(*Config)
		want   string // in the error; empty: valid
		dWidth float64
	}{
		{"default", func(*Config) {}, "", 1},
		{"ns", func(c *Config) { c.Loss = LossNS }, "", 1},
		{"hinge", func(c *Config) { c.Loss = LossHinge }, "", 1},
		{"unknown loss", func(c *Config) { c.Loss = "wgan" }, "ns or hinge", 0},
		{"wide D", func(c *Config) { c.Width, c.DWidth = 0.5, 2 }, "", 2},
		{"D as G", func(c *Config) { c.Width = 0.5 }, "", 0.5},
		{"negative D", func(c *Config) { c.DWidth = -1 }, "discriminator's width", 0},
		{"huge D", func(c *Config) { c.DWidth = 5 }, "discriminator's width", 0},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		case c.want == "" && cfg.DiscWidth() != c.dWidth:
			t.Errorf("%s: D's width %g, want %g", c.name, cfg.DiscWidth(), c.dWidth)
		}
	}
}
