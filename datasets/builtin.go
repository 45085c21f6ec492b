package datasets

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

//go:embed builtin/emoji32.png builtin/emoji64.png builtin/emoji.json
//go:embed builtin/openmoji32.png builtin/openmoji64.png builtin/openmoji.json
var builtinFS embed.FS

// BuiltinNames lists the datasets that ship inside the binary.
var BuiltinNames = []string{"emoji", "openmoji", "shapes"}

// BuiltinMaxRes is the largest side a built-in dataset comes at. The emoji
// come from 64 px sources (the npm package has no larger ones). The shapes
// stop at 128 px: drawn at 256 they take 384 MB and, even with one sample a
// pixel, seconds more than a dataset "for fast tests" should.
func BuiltinMaxRes(name string) (int, error) {
	switch name {
	case "emoji", "openmoji": // openmoji is kept at 64 px as the emoji (their rasters are committed)
		return 64, nil
	case "shapes":
		return 128, nil
	}
	return 0, fmt.Errorf("no built-in dataset %q (have %s)", name, strings.Join(BuiltinNames, ", "))
}

// Builtin returns a built-in dataset at a side in Sides, up to its
// BuiltinMaxRes:
//   - emoji: 110 Noto Emoji faces (Apache-2.0; see builtin/ATTRIBUTION.md)
//   - openmoji: 254 OpenMoji faces and animals, flat colour with black
//     outlines (CC BY-SA 4.0; see builtin/ATTRIBUTION.md)
//   - shapes: 2048 procedural coloured circles, squares and triangles, for fast tests
func Builtin(name string, size int) (*Dataset, error) {
	most, err := BuiltinMaxRes(name)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(Sides, size) || size > most {
		return nil, fmt.Errorf("the built-in dataset %s comes at up to %d×%d pixels (a side of %s), not %d×%d",
			name, most, most, sideList(most), size, size)
	}
	switch name {
	case "emoji", "openmoji":
		return builtinSheet(name, size)
	case "shapes":
		return Shapes(2048, size, 1), nil
	}
	return nil, fmt.Errorf("no built-in dataset %q (have %s)", name, strings.Join(BuiltinNames, ", "))
}

// sideList names the Sides up to most: "32, 64 or 128".
func sideList(most int) string {
	var out []string
	for _, s := range Sides {
		if s <= most {
			out = append(out, fmt.Sprint(s))
		}
	}
	if len(out) < 2 {
		return strings.Join(out, "")
	}
	return strings.Join(out[:len(out)-1], ", ") + " or " + out[len(out)-1]
}

// builtinSheet reads a prepared set: builtin/NAME.json lists the images'
// names in sheet order, builtin/NAME{32,64}.png holds them.
func builtinSheet(name string, size int) (*Dataset, error) {
	raw, err := builtinFS.ReadFile("builtin/" + name + ".json")
	if err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return nil, fmt.Errorf("builtin %s list: %w", name, err)
	}
	sheet, err := builtinFS.ReadFile(fmt.Sprintf("builtin/%s%d.png", name, size))
	if err != nil {
		return nil, err
	}
	d, err := ReadSheet(name, bytes.NewReader(sheet), size, len(names))
	if err != nil {
		return nil, err
	}
	d.Names = names
	return d, nil
}

// shapeColours are saturated colours that stand out on white.
var shapeColours = [][3]uint8{
	{230, 25, 75}, {60, 180, 75}, {0, 130, 200}, {245, 130, 48}, {145, 30, 180}, {70, 200, 220}, {240, 50, 230}, {255, 200, 0},
}

// Shapes draws n images of one coloured circle, square or triangle on white,
// at random sizes and places, reproducibly from seed.
func Shapes(n, size int, seed uint64) *Dataset {
	r := rand.New(rand.NewPCG(seed, 7))
	d := &Dataset{Name: "shapes", Size: size, Pix: make([]uint8, 0, n*size*size*3)}
	// Samples per pixel side, for smooth edges: 4 up to 64 px, 2 at 128,
	// where the edges are as smooth for a quarter of the work (drawing
	// 2048 at 128 px with 4 took 9.4 s, with 2 it takes about a quarter).
	sub := 4
	if size > 64 {
		sub = max(1, 4*64/size)
	}
	for i := 0; i < n; i++ {
		kind := r.IntN(3)
		col := shapeColours[r.IntN(len(shapeColours))]
		rad := (0.18 + 0.17*r.Float64()) * float64(size)
		cx := rad + r.Float64()*(float64(size)-2*rad)
		cy := rad + r.Float64()*(float64(size)-2*rad)
		inside := func(x, y float64) bool {
			dx, dy := x-cx, y-cy
			switch kind {
			case 0:
				return dx*dx+dy*dy <= rad*rad
			case 1:
				return math.Abs(dx) <= rad*0.85 && math.Abs(dy) <= rad*0.85
			default: // upward triangle inscribed in the circle
				if dy > rad/2 {
					return false
				}
				return math.Abs(dx) <= (dy+rad)/(1.5*rad)*rad*math.Sqrt(3)/2
			}
		}
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				hit := 0
				for sy := 0; sy < sub; sy++ {
					for sx := 0; sx < sub; sx++ {
						if inside(float64(x)+(float64(sx)+0.5)/float64(sub), float64(y)+(float64(sy)+0.5)/float64(sub)) {
							hit++
						}
					}
				}
				a := float64(hit) / float64(sub*sub)
				for c := 0; c < 3; c++ {
					d.Pix = append(d.Pix, uint8(math.Round(255*(1-a)+float64(col[c])*a)))
				}
			}
		}
		d.Names = append(d.Names, fmt.Sprintf("shape-%d", i))
	}
	return d
}
