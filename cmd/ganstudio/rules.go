package main

import (
	"fmt"
	"math"
	"strings"
)

// The synthetic raters of 'ganstudio bench feedback': rules of taste,
// written in code, one per family a designer's taste falls in. Each is
// read off an image the way a person would see it: the object is the
// "ink" that differs from the white background of the built-in shapes
// (and of most emoji), weighed by how far each pixel is from white.

// rule likes an image or not. Images are planar RGB (CHW) in [-1, 1].
type rule struct {
	name, family string
	describe     string
	likes        func(img []float32, res int) bool
}

// rules are the families; hue's threshold is --hue-max.
func rules(hueMax float64) []rule {
	return []rule{
		{name: "hue", family: "colour", describe: fmt.Sprintf("mean hue within %.0f° of red", hueMax),
			likes: func(img []float32, res int) bool { return hueFromRed(img, res) <= hueMax }},
		{name: "dark", family: "brightness", describe: fmt.Sprintf("a dark object: its mean luminance below %.2f", darkMax),
			likes: func(img []float32, res int) bool { return inkLuminance(img, res) < darkMax }},
		{name: "left", family: "position", describe: fmt.Sprintf("the object in the left of the frame: its centre left of %.2f of the width", leftMax),
			likes: func(img []float32, res int) bool { return inkCentreX(img, res) < leftMax }},
		{name: "round", family: "outline", describe: fmt.Sprintf("a round outline (a disc): spread ÷ a disc's of the same area below %.3f", roundMax),
			likes: func(img []float32, res int) bool { return outlineSpread(img, res) < roundMax }},
	}
}

// pickRules reads --rules: names from rules, space- or comma-separated.
func pickRules(s string, hueMax float64) ([]rule, error) {
	all := rules(hueMax)
	var out []rule
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		found := false
		for _, r := range all {
			if r.name == w {
				out, found = append(out, r), true
			}
		}
		if !found {
			var names []string
			for _, r := range all {
				names = append(names, r.name)
			}
			return nil, fmt.Errorf("no rule %q (have %s)", w, strings.Join(names, ", "))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--rules names no rule")
	}
	return out, nil
}

// Thresholds, set so that each rule likes about a quarter to a third of
// the built-in shapes (`bench feedback` prints the share it measures).
// Each likes what the untrained generator rarely makes, so that steering
// has room to show: its pale blobs with ragged edges are neither dark nor
// round, and they sit in the middle of the frame.
//   - darkMax: of the eight colours, red and purple (luminance 0.28, 0.26)
//     are dark, blue and magenta (0.42, 0.41) are not;
//   - leftMax: centres are uniform over the frame less the object's radius;
//   - roundMax: a disc is 1 (1.003–1.011 drawn at 32 px), a square 1.047,
//     a triangle 1.21.
const (
	darkMax  = 0.38
	leftMax  = 0.4
	roundMax = 1.04
)

// ink is how far pixel i is from white, 0 to 1: the largest of the
// channels' distances, so a saturated yellow counts as much as a black.
func ink(img []float32, res, i int) float64 {
	plane := res * res
	m := 0.0
	for c := 0; c < 3; c++ {
		m = math.Max(m, (1-float64(img[c*plane+i]))/2)
	}
	return m
}

// inkLuminance is the object's mean luminance (Rec. 709, 0 black to 1
// white), each pixel weighed by its ink. An image with less ink than 1%
// of its frame has no object to be dark: it is the white background, 1.
func inkLuminance(img []float32, res int) float64 {
	plane := res * res
	var sum, w float64
	for i := 0; i < plane; i++ {
		k := ink(img, res, i)
		r, g, b := (float64(img[i])+1)/2, (float64(img[plane+i])+1)/2, (float64(img[2*plane+i])+1)/2
		sum += k * (0.2126*r + 0.7152*g + 0.0722*b)
		w += k
	}
	if w < 0.01*float64(plane) {
		return 1
	}
	return sum / w
}

// inkCentreX is the object's centre across the frame, 0 left to 1 right,
// weighed by ink; an empty image is centred.
func inkCentreX(img []float32, res int) float64 {
	var sum, w float64
	for i := 0; i < res*res; i++ {
		k := ink(img, res, i)
		sum += k * (float64(i%res) + 0.5) / float64(res)
		w += k
	}
	if w < 1e-9 {
		return 0.5
	}
	return sum / w
}

// outlineSpread is how spread out the object's mask (pixels more than half
// ink) is about its centre, against a disc of the same area: the mean
// squared distance from the centre × 2π ÷ the area. A disc is the least
// spread of all shapes (1); a square is 1.05, an equilateral triangle
// 1.21, a blob with arms more. An image with under 4 pixels of mask has
// no outline to speak of: +Inf.
func outlineSpread(img []float32, res int) float64 {
	var n, sx, sy float64
	for i := 0; i < res*res; i++ {
		if ink(img, res, i) > 0.5 {
			n++
			sx += float64(i % res)
			sy += float64(i / res)
		}
	}
	if n < 4 {
		return math.Inf(1)
	}
	cx, cy := sx/n, sy/n
	var m float64
	for i := 0; i < res*res; i++ {
		if ink(img, res, i) > 0.5 {
			dx, dy := float64(i%res)-cx, float64(i/res)-cy
			m += dx*dx + dy*dy
		}
	}
	// Pixels are unit squares, not points: each adds 1/6 of its own.
	return 2 * math.Pi * (m/n + 1.0/6) / n
}
