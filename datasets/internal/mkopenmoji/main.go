// Command mkopenmoji rebuilds the built-in OpenMoji dataset from the npm
// package openmoji (CC BY-SA 4.0). The package ships SVGs only, so each is
// rasterised by rsvg-convert (Debian: librsvg2-bin). See
// scripts/build-openmoji.sh, which fetches the package and runs this.
package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ganstudio/ganstudio/datasets"
)

// render is the side rsvg-convert draws each 72-unit SVG at: more than
// twice the largest built-in size, so a drawing cropped to its frame still
// has more than 64 pixels for the Lanczos resize to work from.
const render = 144

type openmoji struct {
	hexcode, group, subgroup, annotation string
	order                                int
}

func main() {
	pkg := flag.String("pkg", "", "unpacked openmoji package folder")
	out := flag.String("out", "datasets/builtin", "where to write the sheets")
	flag.Parse()
	picked, err := pick(filepath.Join(*pkg, "data", "openmoji.csv"))
	if err != nil {
		log.Fatal(err)
	}
	imgs := make([]*image.NRGBA, len(picked))
	for i, e := range picked {
		img, err := rasterise(filepath.Join(*pkg, "color", "svg", e.hexcode+".svg"))
		if err != nil {
			log.Fatal(err)
		}
		imgs[i] = fit(img)
	}
	var names []string
	for _, size := range []int{32, 64} {
		im := datasets.NewImporter("openmoji", size, datasets.DefaultLimits())
		names = names[:0]
		for i, e := range picked {
			var b bytes.Buffer
			if err := png.Encode(&b, imgs[i]); err != nil {
				log.Fatal(err)
			}
			if err := im.Add(context.Background(), e.hexcode+".png", &b); err != nil {
				log.Fatal(err)
			}
			names = append(names, e.annotation)
		}
		ds, rep, err := im.Finish()
		if err != nil || len(rep.Skipped) > 0 {
			log.Fatalf("openmoji at %d: %v %v", size, err, rep.Skipped)
		}
		w, err := os.Create(filepath.Join(*out, fmt.Sprintf("openmoji%d.png", size)))
		if err != nil {
			log.Fatal(err)
		}
		if err := ds.WriteSheet(w, 16); err != nil {
			log.Fatal(err)
		}
		if err := w.Close(); err != nil {
			log.Fatal(err)
		}
	}
	list, _ := json.MarshalIndent(names, "", " ")
	if err := os.WriteFile(filepath.Join(*out, "openmoji.json"), append(list, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %d OpenMoji faces and animals at 32 and 64 pixels to %s\n", len(names), *out)
}

// pick reads the package's table and keeps faces and animals: the face-*
// subgroups of smileys-emotion less face-costume (ghosts, robots, aliens),
// with the cat and monkey faces, and the animal-* subgroups of
// animals-nature; skin-tone variants are left out, since they would be
// near-copies of their base emoji.
func pick(path string) ([]openmoji, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, need := range []string{"hexcode", "group", "subgroups", "annotation", "skintone", "order"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s: no column %q", path, need)
		}
	}
	var out []openmoji
	for _, r := range rows[1:] {
		e := openmoji{hexcode: r[col["hexcode"]], group: r[col["group"]], subgroup: r[col["subgroups"]], annotation: r[col["annotation"]]}
		if r[col["skintone"]] != "" {
			continue
		}
		face := e.group == "smileys-emotion" && (strings.HasPrefix(e.subgroup, "face-") && e.subgroup != "face-costume" ||
			e.subgroup == "cat-face" || e.subgroup == "monkey-face")
		animal := e.group == "animals-nature" && strings.HasPrefix(e.subgroup, "animal-")
		if !face && !animal {
			continue
		}
		if e.order, err = strconv.Atoi(r[col["order"]]); err != nil {
			return nil, fmt.Errorf("%s: order of %s: %w", path, e.hexcode, err)
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out, nil
}

func rasterise(svg string) (*image.NRGBA, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("rsvg-convert", "-w", strconv.Itoa(render), "-h", strconv.Itoa(render), "-f", "png", svg)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("rsvg-convert %s: %w: %s", svg, err, stderr.String())
	}
	img, err := png.Decode(&stdout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", svg, err)
	}
	out := image.NewNRGBA(image.Rect(0, 0, render, render))
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out, nil
}

// fit crops an image to the square around its visible pixels, with a
// margin, on a transparent canvas where the square leaves the artboard.
// OpenMoji draws inside a margin of its 72-unit artboard, faces in the
// middle two thirds and animals out to the edges; one crop for all would
// leave the faces a third of the pixels, so each drawing fills its frame,
// as the Noto faces of builtin:emoji do.
func fit(img *image.NRGBA) *image.NRGBA {
	box := image.Rectangle{}
	for y := 0; y < render; y++ {
		for x := 0; x < render; x++ {
			if img.Pix[y*img.Stride+4*x+3] > 8 {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	side := max(box.Dx(), box.Dy()) + 4 // 2 pixels either side: no outline touches the edge
	cx, cy := (box.Min.X+box.Max.X)/2, (box.Min.Y+box.Max.Y)/2
	sq := image.Rect(cx-side/2, cy-side/2, cx-side/2+side, cy-side/2+side)
	out := image.NewNRGBA(image.Rect(0, 0, side, side))
	draw.Draw(out, out.Bounds(), img, sq.Min, draw.Src)
	return out
}
