package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/atomicfile"
)

// What 'bench quality' writes beside its table: each arm's grids (in
// quality.go), the comparison of all arms with the real data, and a
// README.md with the table and a legend.

// writeQualityTable prints the report as a table, one arm a row.
func writeQualityTable(w io.Writer, rep *qualityReport) {
	fmt.Fprintf(w, "%s, %d images at %d×%d; %s of training per arm (%s, %d threads, load %.1f → %.1f), SWD every %d steps\n",
		rep.Dataset, rep.Images, rep.Res, rep.Res, budgetText(rep), rep.BLAS, rep.Threads, rep.Load[0], rep.Load[1], rep.EvalEvery)
	fmt.Fprintf(w, "%-15s %6s %7s %16s %9s %9s %11s %6s %5s\n", "arm", "steps", "img/s", "best SWD (step)", "final SWD", "diversity", "near-copies", "p", "r_t")
	for _, a := range rep.Arms {
		// ADA's p and r_t mean nothing for an arm without augmentation.
		p, rt := "—", "—"
		if a.Augment != spec.AugOff {
			p, rt = fmt.Sprintf("%.3f", a.FinalAugP), fmt.Sprintf("%.2f", a.FinalRT)
		}
		fmt.Fprintf(w, "%-15s %6d %7.1f %16s %9.1f %9.2f %11.3f %6s %5s\n", a.Arm, a.Steps, a.ImagesPerS,
			fmt.Sprintf("%.1f (%d)", a.BestSWD, a.BestStep), a.FinalSWD, a.Final.Diversity, a.Final.NearCopies, p, rt)
	}
	fmt.Fprintf(w, "%-15s %6s %7s %16.1f %9s %9.2f %11.3f\n", "real data", "", "", rep.FloorSWD, "", rep.RealDiv, rep.RealCopies)
	fmt.Fprintf(w, "(real data: SWD of real against real, the floor; the training images' own diversity; the near-copy share of each held out against the rest.\n"+
		" p, r_t: the augmentation strength and ADA's r_t at the end)\n")
	fmt.Fprintf(w, "grids and comparison in %s\n", rep.Summary)
}

func budgetText(rep *qualityReport) string {
	var parts []string
	if rep.BudgetS > 0 {
		parts = append(parts, fmt.Sprintf("%gs", rep.BudgetS))
	}
	if rep.StepsCap > 0 {
		parts = append(parts, fmt.Sprintf("at most %d steps", rep.StepsCap))
	}
	return strings.Join(parts, ", ")
}

// writeQualityFiles writes the comparison PNG and README.md into out.
func writeQualityFiles(rep *qualityReport, grids []*image.NRGBA, real *image.NRGBA, out string) error {
	labels := []string{"real data"}
	notes := []string{fmt.Sprintf("floor SWD %.1f", rep.FloorSWD)}
	for _, a := range rep.Arms {
		labels = append(labels, a.Arm)
		notes = append(notes, fmt.Sprintf("SWD %.1f, copies %.2f", a.FinalSWD, a.Final.NearCopies))
	}
	rep.Comparison = "comparison.png"
	if err := writePNG(filepath.Join(out, rep.Comparison), comparison(append([]*image.NRGBA{real}, grids...), labels, notes)); err != nil {
		return fmt.Errorf("comparison: %w", err)
	}
	rep.Summary = out
	var b strings.Builder
	fmt.Fprintf(&b, "# bench quality: %s at %d×%d\n\n", rep.Dataset, rep.Res, rep.Res)
	fmt.Fprintf(&b, "Each arm trained for %s (%s, %d threads, load average %.1f at the start, %.1f at the end); SWD every %d steps and at the end; diversity and near-copies of %d samples at the end.\n\n",
		budgetText(rep), rep.BLAS, rep.Threads, rep.Load[0], rep.Load[1], rep.EvalEvery, rep.Samples)
	b.WriteString("![The real data, then each arm's final grid, in the order of the table](comparison.png)\n\n")
	b.WriteString("| arm | what | steps | img/s | best SWD (step) | final SWD | diversity | near-copies | grids |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range rep.Arms {
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f | %.1f (%d) | %.1f | %.2f | %.3f | [final](%s), [best](%s), [nearest pairs](%s) |\n",
			a.Arm, a.What, a.Steps, a.ImagesPerS, a.BestSWD, a.BestStep, a.FinalSWD, a.Final.Diversity, a.Final.NearCopies, a.FinalGrid, a.BestGrid, a.Pairs)
	}
	fmt.Fprintf(&b, "| real data | SWD real against real (the floor); the training images' diversity; near-copy share of each training image held out against the rest | | | %.1f | | %.2f | %.3f | |\n\n",
		rep.FloorSWD, rep.RealDiv, rep.RealCopies)
	b.WriteString("SWD: sliced Wasserstein distance on Laplacian-pyramid patches against the real images, ×1000, lower is better. " +
		"Diversity: mean pairwise distance of the samples (of the training images for the real row). " +
		"Near-copies: the share of samples closer to their nearest training image than that image is to its own nearest neighbour (at most the set's median such distance); " +
		"samples of the data itself score the real row's share, so only a share above it points to memorisation. " +
		"Nearest pairs: the 8 samples nearest the data (relative to their training image's own neighbour distance) above their nearest training images.\n")
	return atomicfile.Write(filepath.Join(out, "README.md"), func(w io.Writer) error { _, err := io.WriteString(w, b.String()); return err })
}

// realGrid lays out 64 training images picked without replacement (all of
// them when there are fewer).
func realGrid(train [][]float32, res int, seed uint64) *image.NRGBA {
	order := rand.New(rand.NewPCG(seed, 23)).Perm(len(train))
	var imgs [][]float32
	for _, i := range order[:min(gan.GridSize, len(order))] {
		imgs = append(imgs, train[i])
	}
	return gan.Grid(imgs, res, 8)
}

// nearestPairs puts the n samples nearest the data (by their ratio to
// their training image's own neighbour distance), one per training image,
// in a row above their nearest training images. One per training image:
// early in a run every blurred sample's nearest is the same average-looking
// image, and eight copies of it would show nothing.
func nearestPairs(samples [][]float32, ds *datasets.Dataset, nc gan.NearCopies, n int) *image.NRGBA {
	order := make([]int, len(samples))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case nc.Ratio[a] < nc.Ratio[b]:
			return -1
		case nc.Ratio[a] > nc.Ratio[b]:
			return 1
		}
		return 0
	})
	seen := map[int]bool{}
	order = slices.DeleteFunc(order, func(i int) bool {
		dup := seen[nc.Nearest[i]]
		seen[nc.Nearest[i]] = true
		return dup
	})
	order = order[:min(n, len(order))]
	imgs := make([][]float32, 0, 2*len(order))
	for _, i := range order {
		imgs = append(imgs, samples[i])
	}
	for _, i := range order {
		imgs = append(imgs, ds.Float(nc.Nearest[i]))
	}
	return gan.Grid(imgs, ds.Res(), len(order))
}

// comparison puts the grids side by side, four to a row, each under its
// label and note in the standard library's fixed 7×13 bitmap font.
func comparison(grids []*image.NRGBA, labels, notes []string) *image.NRGBA {
	const perRow, gap, textH = 4, 12, 32
	face := basicfont.Face7x13
	cellW, cellH := 0, 0
	for i, g := range grids {
		cellW = max(cellW, g.Bounds().Dx(), 7*len(labels[i]), 7*len(notes[i]))
		cellH = max(cellH, g.Bounds().Dy())
	}
	cols := min(perRow, len(grids))
	rows := (len(grids) + perRow - 1) / perRow
	out := image.NewNRGBA(image.Rect(0, 0, gap+cols*(cellW+gap), gap+rows*(textH+cellH+gap)))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	for i, g := range grids {
		x := gap + (i%perRow)*(cellW+gap)
		y := gap + (i/perRow)*(textH+cellH+gap)
		d := font.Drawer{Dst: out, Src: image.NewUniform(color.Black), Face: face}
		d.Dot = fixed.P(x, y+11)
		d.DrawString(labels[i])
		d.Src = image.NewUniform(color.Gray{Y: 90})
		d.Dot = fixed.P(x, y+25)
		d.DrawString(notes[i])
		draw.Draw(out, g.Bounds().Add(image.Pt(x, y+textH)), g, image.Point{}, draw.Src)
	}
	return out
}
