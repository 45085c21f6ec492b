package gan

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/atomicfile"
)

// checkpointVersion changes whenever the file layout does. Version 2
// added the generator's average and the augmentation's state; a version 1
// file reads as a run with neither.
const checkpointVersion = 2

// readable says whether this build reads a checkpoint of version v.
func readable(v int) error {
	if v < 1 || v > checkpointVersion {
		return fmt.Errorf("checkpoint version %d, this build reads 1 to %d", v, checkpointVersion)
	}
	return nil
}

// checkpoint is everything needed to go on exactly where training stopped:
// weights, batch-norm running statistics, both optimisers' moments, the step,
// the RNG state and the progress grid's latents.
type checkpoint struct {
	Version    int
	Config     spec.Config
	Step       int
	GNames     []string
	G          [][]float32
	DNames     []string
	D          [][]float32
	Running    map[string]nn.BNRunning
	OptG, OptD nn.Adam
	RNG        []byte
	FixedZ     []float32
	GEMA       [][]float32 // the generator's average, in GNames' order (nil: none)
	Aug        adaState
	Best       Best
}

// WriteCheckpoint encodes the trainer's whole state to w.
func (t *Trainer) WriteCheckpoint(w io.Writer) error {
	if err := t.sync(); err != nil {
		return err
	}
	rng, err := t.pcg.MarshalBinary()
	if err != nil {
		return err
	}
	ck := t.weights()
	ck.Version, ck.Config, ck.Step, ck.RNG, ck.FixedZ, ck.Best = checkpointVersion, t.cfg, t.step, rng, t.fixedZ, t.best
	return gob.NewEncoder(w).Encode(&ck)
}

// weights is the part of a checkpoint that training changes every step:
// both networks, the running statistics and both optimisers, as the host
// holds them (not copies).
func (t *Trainer) weights() checkpoint {
	ck := checkpoint{
		GNames: t.G.Names, G: t.G.CopyParams(), DNames: t.D.Names, D: t.D.CopyParams(),
		Running: map[string]nn.BNRunning{}, OptG: *t.optG, OptD: *t.optD,
		Aug: t.aug.ada,
	}
	if t.Gema != nil {
		ck.GEMA = t.Gema.CopyParams()
	}
	for k, r := range t.G.Running {
		ck.Running[k] = *r
	}
	return ck
}

// setWeights copies weights' part of ck into the trainer, checking that
// every piece fits its networks.
func (t *Trainer) setWeights(ck *checkpoint) error {
	if err := setGenerator(t.G, ck.GNames, ck.G, ck.Running); err != nil {
		return err
	}
	if err := restore(t.D, ck.DNames, ck.D); err != nil {
		return fmt.Errorf("checkpoint discriminator: %w", err)
	}
	if err := restoreAdam(t.optG, &ck.OptG); err != nil {
		return fmt.Errorf("checkpoint generator optimiser: %w", err)
	}
	if err := restoreAdam(t.optD, &ck.OptD); err != nil {
		return fmt.Errorf("checkpoint discriminator optimiser: %w", err)
	}
	if t.Gema != nil {
		avg := ck.GEMA
		if avg == nil {
			avg = ck.G // a checkpoint from before the average: start it at the weights
		}
		if err := restore(t.Gema, ck.GNames, avg); err != nil {
			return fmt.Errorf("checkpoint generator average: %w", err)
		}
	}
	a := ck.Aug
	if !(a.P >= 0 && a.P <= 1) || a.RTN < 0 {
		return fmt.Errorf("checkpoint augmentation strength %g is out of range", a.P)
	}
	t.aug.ada = a
	return nil
}

// SaveCheckpoint writes the checkpoint to path atomically (temporary file,
// fsync, rename): a crash leaves either the old checkpoint or the new one,
// never half of one.
func (t *Trainer) SaveCheckpoint(path string) error {
	if err := atomicfile.Write(path, t.WriteCheckpoint); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	return nil
}

// ReadCheckpoint rebuilds a trainer from a checkpoint and the same dataset.
func ReadCheckpoint(r io.Reader, src Source) (*Trainer, error) {
	var ck checkpoint
	if err := gob.NewDecoder(r).Decode(&ck); err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := readable(ck.Version); err != nil {
		return nil, err
	}
	t, err := NewTrainer(ck.Config, src)
	if err != nil {
		return nil, err
	}
	if err := t.restoreState(&ck); err != nil {
		t.Close() // its graphs, or its device memory
		return nil, err
	}
	return t, nil
}

// restoreState puts a decoded checkpoint into a fresh trainer.
func (t *Trainer) restoreState(ck *checkpoint) error {
	if err := t.setWeights(ck); err != nil {
		return err
	}
	if err := t.pcg.UnmarshalBinary(ck.RNG); err != nil {
		return fmt.Errorf("checkpoint RNG: %w", err)
	}
	t.rng = rand.New(t.pcg)
	if len(ck.FixedZ) != len(t.fixedZ) {
		return errors.New("checkpoint grid latents have the wrong size")
	}
	copy(t.fixedZ, ck.FixedZ)
	t.step = ck.Step
	t.best = ck.Best
	return nil
}

// LoadCheckpoint reads a checkpoint file.
func LoadCheckpoint(path string, src Source) (*Trainer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ReadCheckpoint(bufio.NewReaderSize(f, 1<<20), src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func restore(n *Net, names []string, data [][]float32) error {
	if len(names) != len(n.Names) || len(data) != len(n.Params) {
		return fmt.Errorf("%d parameters saved, network has %d", len(data), len(n.Params))
	}
	for i, p := range n.Params {
		if names[i] != n.Names[i] || len(data[i]) != p.DataSize() {
			return fmt.Errorf("parameter %d is %s[%d], network wants %s[%d]", i, names[i], len(data[i]), n.Names[i], p.DataSize())
		}
		copy(nn.F32(p), data[i])
	}
	return nil
}

func restoreAdam(dst, src *nn.Adam) error {
	if len(src.M) != len(dst.M) || len(src.V) != len(dst.V) {
		return errors.New("moment count does not match the network")
	}
	for i := range dst.M {
		if len(src.M[i]) != len(dst.M[i]) || len(src.V[i]) != len(dst.V[i]) {
			return fmt.Errorf("moment %d has the wrong size", i)
		}
		copy(dst.M[i], src.M[i])
		copy(dst.V[i], src.V[i])
	}
	dst.T = src.T
	dst.LR, dst.Beta1, dst.Beta2, dst.Eps = src.LR, src.Beta1, src.Beta2, src.Eps
	return nil
}
