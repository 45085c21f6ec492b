package gan

import (
	"encoding/json"
	"hash"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// A checkpoint written by an earlier build must keep loading, and resuming
// from it must keep giving the same training. testdata/tiny-step3.gob is a
// tiny-preset run saved after 3 steps; testdata/tiny-step3-next.json holds
// the Stats of the 2 steps that build took after saving it. Both were
// written by the build of commit a72cbbc (checkpointVersion 1), before gan's
// generator refactor. Regenerating them with a build under suspicion proves
// nothing; do it only when the file layout is meant to change (and bump
// checkpointVersion then), with
//
//	GANSTUDIO_WRITE_COMPAT=1 go test -tags openblas -count=1 -run TestWriteCompatCheckpoint ./gan
const (
	compatCheckpoint = "testdata/tiny-step3.gob"
	compatNext       = "testdata/tiny-step3-next.json"
	compatSavedAt    = 3
	compatNextSteps  = 2
)

// compatRecord is tiny-step3-next.json. It has tags of its own rather than
// reusing Stats' so that renaming a Stats field cannot silently empty it.
type compatRecord struct {
	// What the recording build ran on, for the reader of a failure.
	BLAS string `json:"blas"`
	Go   string `json:"go"`
	Arch string `json:"arch"`
	// SourceSum hashes the data source's images: if it no longer matches,
	// the test data changed, not the checkpoint's meaning.
	SourceSum uint64 `json:"source_sum"`
	// FixedLatentsSum hashes the progress grid's latents at the save.
	FixedLatentsSum uint64       `json:"fixed_latents_sum"`
	Steps           []compatStep `json:"steps"`
}

type compatStep struct {
	Step  int     `json:"step"`
	LossD float64 `json:"loss_d"`
	LossG float64 `json:"loss_g"`
	DReal float64 `json:"d_real"`
	DFake float64 `json:"d_fake"`
}

func compatSource() Source { return noiseSource{32} }

// sourceSum is an FNV-1a hash of every image the source holds, bit for bit.
func sourceSum(src Source) uint64 {
	h := fnv.New64a()
	img := make([]float32, 3*src.Res()*src.Res())
	for i := 0; i < src.Len(); i++ {
		src.Image(i, img)
		hashFloats(h, img)
	}
	return h.Sum64()
}

// latentSum is an FNV-1a hash of xs, bit for bit.
func latentSum(xs []float32) uint64 {
	h := fnv.New64a()
	hashFloats(h, xs)
	return h.Sum64()
}

func hashFloats(h hash.Hash64, xs []float32) {
	var b [4]byte
	for _, v := range xs {
		u := math.Float32bits(v)
		b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		h.Write(b[:])
	}
}

// TestWriteCompatCheckpoint writes the two files TestCheckpointFromEarlierBuild
// reads. It is a generator, not a check: it runs only with
// GANSTUDIO_WRITE_COMPAT=1.
func TestWriteCompatCheckpoint(t *testing.T) {
	if os.Getenv("GANSTUDIO_WRITE_COMPAT") != "1" {
		t.Skip("set GANSTUDIO_WRITE_COMPAT=1 to rewrite " + compatCheckpoint)
	}
	cfg, err := spec.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	// The tiny preset's networks as they are; a smaller batch only makes
	// the steps quicker (the checkpoint records it in its Config).
	cfg.Batch = 8
	cfg.Seed = 20240603
	src := compatSource()
	tr, err := NewTrainer(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	steps(t, tr, compatSavedAt)
	if err := os.MkdirAll(filepath.Dir(compatCheckpoint), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := tr.SaveCheckpoint(compatCheckpoint); err != nil {
		t.Fatal(err)
	}
	rec := compatRecord{
		BLAS: BLASName, Go: runtime.Version(), Arch: runtime.GOARCH,
		SourceSum: sourceSum(src), FixedLatentsSum: latentSum(tr.FixedLatents()),
	}
	for _, st := range steps(t, tr, compatNextSteps) {
		rec.Steps = append(rec.Steps, compatStep{Step: st.Step, LossD: st.LossD, LossG: st.LossG, DReal: st.DReal, DFake: st.DFake})
	}
	// encoding/json writes each float64 in the shortest form that parses
	// back to the same bits.
	data, err := json.MarshalIndent(rec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(compatNext, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(compatCheckpoint)
	t.Logf("wrote %s (%d bytes) and %s with %s", compatCheckpoint, fi.Size(), compatNext, BLASName)
}

// compatTol is the relative difference TestCheckpointFromEarlierBuild allows.
// The networks compute in float32, and the order of their sums depends on
// the BLAS: gonum's pure Go one (plain go test) or OpenBLAS (-tags openblas),
// whose kernels OpenBLAS picks for the CPU at run time (the recording was
// made where it chose Prescott, SSE2 only; an AVX machine gets Haswell,
// SkylakeX or Zen). So bit-for-bit equality holds only on the recording's
// own kernel. Measured on the recording: pure Go and OpenBLAS with
// OPENBLAS_CORETYPE=Haswell, SkylakeX, Sandybridge, Nehalem or Zen differ
// from it by at most 3.3e-7 relative (a few float32 ulps), the same as
// moving one weight by one ulp. Anything a checkpoint could get wrong moves
// far more: Adam's step count one off 3.6e-3, a D bias off by 1e-3 5.7e-4,
// D's moments lost 6e-2, the RNG state lost 2.7e-1. 1e-6 sits 3× above the
// rounding and over 500× below the smallest of those.
const compatTol = 1e-6

// TestCheckpointFromEarlierBuild loads the checkpoint an earlier build wrote
// and checks that 2 more steps give the losses that build recorded.
func TestCheckpointFromEarlierBuild(t *testing.T) {
	data, err := os.ReadFile(compatNext)
	if err != nil {
		t.Fatal(err)
	}
	var rec compatRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("%s: %v", compatNext, err)
	}
	if len(rec.Steps) != compatNextSteps {
		t.Fatalf("%s records %d steps, want %d", compatNext, len(rec.Steps), compatNextSteps)
	}
	src := compatSource()
	if got := sourceSum(src); got != rec.SourceSum {
		t.Fatalf("the test data source changed (images hash to %#x, the recording's to %#x): "+
			"the recorded losses no longer apply; restore noiseSource or regenerate the files", got, rec.SourceSum)
	}
	tr, err := LoadCheckpoint(compatCheckpoint, src)
	if err != nil {
		t.Fatalf("checkpoint from an earlier build no longer loads: %v", err)
	}
	defer tr.Close()
	if tr.Step() != compatSavedAt {
		t.Fatalf("loaded at step %d, want %d", tr.Step(), compatSavedAt)
	}
	if c := tr.Config(); c.Res != 32 || c.Width != 0.25 || c.ZDim != 64 || c.Batch != 8 {
		t.Fatalf("loaded config %+v is not the recorded tiny run's", c)
	}
	if got := latentSum(tr.FixedLatents()); got != rec.FixedLatentsSum {
		t.Errorf("the progress grid's latents hash to %#x, the recording's to %#x", got, rec.FixedLatentsSum)
	}
	bitExact := true
	for i, st := range steps(t, tr, compatNextSteps) {
		want := rec.Steps[i]
		if st.Step != want.Step {
			t.Errorf("step %d is numbered %d", want.Step, st.Step)
		}
		for _, f := range []struct {
			name      string
			got, want float64
		}{
			{"loss_d", st.LossD, want.LossD},
			{"loss_g", st.LossG, want.LossG},
			{"d_real", st.DReal, want.DReal},
			{"d_fake", st.DFake, want.DFake},
		} {
			d := math.Abs(f.got - f.want)
			bitExact = bitExact && f.got == f.want
			if math.IsNaN(f.got) || d > compatTol*math.Abs(f.want) {
				t.Errorf("step %d %s = %.17g, the earlier build (%s, %s %s) had %.17g (relative difference %.3g, allowed %g)",
					want.Step, f.name, f.got, rec.BLAS, rec.Go, rec.Arch, f.want, d/math.Abs(f.want), compatTol)
			}
		}
	}
	switch {
	case t.Failed():
	case bitExact:
		t.Logf("%s reproduces the recording (%s) bit for bit", BLASName, rec.BLAS)
	default:
		t.Logf("%s reproduces the recording (%s) within %g relative", BLASName, rec.BLAS, compatTol)
	}
}
