package datasets

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

//go:embed builtin/emoji32.png builtin/emoji64.png builtin/emoji.json
//go:embed builtin/openmoji32.png builtin/openmoji64.png builtin/openmoji.json
var builtinFS embed.FS

// BuiltinNames lists the datasets that ship inside the binary.
var BuiltinNames = []string{"emoji", "openmoji", "shapes"}

// Builtin returns a built-in dataset at size 32 or 64:
//   - emoji: 110 Noto Emoji faces (Apache-2.0; see builtin/ATTRIBUTION.md)
//   - openmoji: 254 OpenMoji faces and animals, flat colour with black
//     outlines (CC BY-SA 4.0; see builtin/ATTRIBUTION.md)
//   - shapes: 2048 procedural coloured circles, squares and triangles, for fast tests
func Builtin(name string, size int) (*Dataset, error) {
	if size != 32 && size != 64 {
		return nil, fmt.Errorf("built-in datasets come at 32 or 64 pixels, not %d", size)
	}
	switch name {
	case "emoji", "openmoji":
		return builtinSheet(name, size)
	case "shapes":
		return Shapes(2048, size, 1), nil
	}
	return nil, fmt.Errorf("no built-in dataset %q (have %s)", name, strings.Join(BuiltinNames, ", "))
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
	const sub = 4 // samples per pixel side, for smooth edges
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
						if inside(float64(x)+(float64(sx)+0.5)/sub, float64(y)+(float64(sy)+0.5)/sub) {
							hit++
						}
					}
				}
				a := float64(hit) / (sub * sub)
				for c := 0; c < 3; c++ {
					d.Pix = append(d.Pix, uint8(math.Round(255*(1-a)+float64(col[c])*a)))
				}
			}
		}
		d.Names = append(d.Names, fmt.Sprintf("shape-%d", i))
	}
	return d
}
