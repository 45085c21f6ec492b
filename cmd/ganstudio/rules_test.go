package main

import (
	"math"
	"testing"
)

// drawn is a built-in-shapes-like image: one shape of a colour (0–255)
// on white, centred at (cx, cy) with radius rad, in fractions of the side.
func drawn(res int, kind string, col [3]float64, cx, cy, rad float64) []float32 {
	img := make([]float32, 3*res*res)
	s := float64(res)
	cx, cy, rad = cx*s, cy*s, rad*s
	for y := 0; y < res; y++ {
		for x := 0; x < res; x++ {
			hit := 0
			for sy := 0; sy < 4; sy++ {
				for sx := 0; sx < 4; sx++ {
					dx, dy := float64(x)+(float64(sx)+0.5)/4-cx, float64(y)+(float64(sy)+0.5)/4-cy
					in := false
					switch kind {
					case "disc":
						in = dx*dx+dy*dy <= rad*rad
					case "square":
						in = math.Abs(dx) <= rad*0.85 && math.Abs(dy) <= rad*0.85
					case "triangle":
						in = dy <= rad/2 && math.Abs(dx) <= (dy+rad)/(1.5*rad)*rad*math.Sqrt(3)/2
					}
					if in {
						hit++
					}
				}
			}
			a := float64(hit) / 16
			for c := 0; c < 3; c++ {
				v := 255*(1-a) + col[c]*a
				img[c*res*res+y*res+x] = float32(v/127.5 - 1)
			}
		}
	}
	return img
}

var (
	red    = [3]float64{230, 25, 75}
	yellow = [3]float64{255, 200, 0}
	cyan   = [3]float64{70, 200, 220}
	blue   = [3]float64{0, 130, 200}
	orange = [3]float64{245, 130, 48}
	purple = [3]float64{145, 30, 180}
)

// Each rule on constructed images: it likes what it says, whatever the
// image's other properties, and no rule likes an empty frame.
func TestRules(t *testing.T) {
	const res = 32
	byName := map[string]rule{}
	for _, r := range rules(30) {
		byName[r.name] = r
	}
	for _, c := range []struct {
		rule string
		img  []float32
		want bool
		what string
	}{
		{"hue", drawn(res, "disc", red, 0.5, 0.5, 0.3), true, "a red disc"},
		{"hue", drawn(res, "triangle", orange, 0.3, 0.6, 0.2), true, "an orange triangle"},
		{"hue", drawn(res, "disc", blue, 0.5, 0.5, 0.3), false, "a blue disc"},
		{"hue", drawn(res, "square", yellow, 0.5, 0.5, 0.3), false, "a yellow square"},

		{"dark", drawn(res, "disc", red, 0.5, 0.5, 0.3), true, "a red disc"},
		{"dark", drawn(res, "triangle", purple, 0.7, 0.4, 0.2), true, "a small purple triangle"},
		{"dark", drawn(res, "square", red, 0.3, 0.3, 0.18), true, "a small red square"},
		{"dark", drawn(res, "disc", blue, 0.5, 0.5, 0.3), false, "a blue disc"},
		{"dark", drawn(res, "disc", yellow, 0.5, 0.5, 0.35), false, "a big yellow disc"},
		{"dark", drawn(res, "square", cyan, 0.5, 0.5, 0.2), false, "a cyan square"},

		{"left", drawn(res, "disc", red, 0.25, 0.5, 0.2), true, "a disc at a quarter of the width"},
		{"left", drawn(res, "triangle", cyan, 0.3, 0.7, 0.25), true, "a triangle at 0.3"},
		{"left", drawn(res, "disc", red, 0.5, 0.5, 0.2), false, "a centred disc"},
		{"left", drawn(res, "square", yellow, 0.75, 0.25, 0.2), false, "a square on the right"},

		{"round", drawn(res, "disc", red, 0.5, 0.5, 0.3), true, "a big disc"},
		{"round", drawn(res, "disc", cyan, 0.3, 0.3, 0.18), true, "a small cyan disc"},
		{"round", drawn(res, "disc", purple, 0.7, 0.6, 0.25), true, "a purple disc on the right"},
		{"round", drawn(res, "triangle", red, 0.5, 0.5, 0.3), false, "a triangle"},
		{"round", drawn(res, "triangle", yellow, 0.3, 0.6, 0.18), false, "a small triangle"},
		{"round", drawn(res, "square", blue, 0.6, 0.5, 0.3), false, "a square"},
		{"round", drawn(res, "square", purple, 0.6, 0.5, 0.18), false, "a small square"},
	} {
		if got := byName[c.rule].likes(c.img, res); got != c.want {
			t.Errorf("%s: likes %s = %v, want %v (luminance %.2f, centre %.2f, spread %.3f)", c.rule, c.what, got, c.want,
				inkLuminance(c.img, res), inkCentreX(c.img, res), outlineSpread(c.img, res))
		}
	}
	white := drawn(res, "disc", red, 0.5, 0.5, 0)
	for name, r := range byName {
		if r.likes(white, res) {
			t.Errorf("%s likes an empty frame", name)
		}
	}
	// The spread's fixed points: a disc is 1, a square π/3, a triangle 2π/(3√3).
	for _, c := range []struct {
		kind string
		want float64
	}{{"disc", 1}, {"square", math.Pi / 3}, {"triangle", 2 * math.Pi / (3 * math.Sqrt(3))}} {
		if got := outlineSpread(drawn(64, c.kind, blue, 0.5, 0.5, 0.3), 64); math.Abs(got-c.want) > 0.02 {
			t.Errorf("spread of a %s: %.3f, want %.3f", c.kind, got, c.want)
		}
	}
	if _, err := pickRules("hue, left", 30); err != nil {
		t.Error(err)
	}
	if _, err := pickRules("hue sparkle", 30); err == nil {
		t.Error("an unknown rule was accepted")
	}
}
