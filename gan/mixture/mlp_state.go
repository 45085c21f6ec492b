package mixture

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/nn"
)

// MLPState is everything an MLPGAN needs to continue exactly where it was:
// weights, Adam moments, step, RNG and the configuration in force. The
// collapse policy keeps one in memory per healthy check to roll back to.
type MLPState struct {
	cfg        MLPConfig
	step       int
	g, d       [][]float32
	optG, optD nn.Adam
	rng        []byte
}

// Save copies the full training state.
func (m *MLPGAN) Save() (*MLPState, error) {
	rng, err := m.pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("save rng: %w", err)
	}
	return &MLPState{cfg: m.cfg, step: m.step, g: m.G.CopyParams(), d: m.D.CopyParams(),
		optG: copyAdam(m.optG), optD: copyAdam(m.optD), rng: rng}, nil
}

// Step is the step the state was saved at.
func (s *MLPState) Step() int { return s.step }

// Restore returns the trainer to a saved state, configuration included
// (a remedy applied since is undone).
func (m *MLPGAN) Restore(s *MLPState) error {
	if s.cfg.Pack != m.cfg.Pack || s.cfg.ZDim != m.cfg.ZDim || s.cfg.Hidden != m.cfg.Hidden || s.cfg.Layers != m.cfg.Layers {
		m.G = mlpNet(m.rng, s.cfg.ZDim, s.cfg.Hidden, s.cfg.Layers, 2)
		m.D = mlpNet(m.rng, 2*s.cfg.Pack, s.cfg.Hidden, s.cfg.Layers, 1)
	}
	if err := m.pcg.UnmarshalBinary(s.rng); err != nil {
		return fmt.Errorf("restore rng: %w", err)
	}
	m.cfg, m.step = s.cfg, s.step
	pasteParams(m.G, s.g)
	pasteParams(m.D, s.d)
	optG, optD := copyAdam(&s.optG), copyAdam(&s.optD)
	m.optG, m.optD = &optG, &optD
	if err := m.compile(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

func pasteParams(n *gan.Net, src [][]float32) {
	for i, p := range n.Params {
		copy(nn.F32(p), src[i])
	}
}

func copyAdam(a *nn.Adam) nn.Adam {
	c := *a
	c.M, c.V = make([][]float32, len(a.M)), make([][]float32, len(a.V))
	for i := range a.M {
		c.M[i], c.V[i] = slices.Clone(a.M[i]), slices.Clone(a.V[i])
	}
	return c
}

// Remedy is a change of training applied after a rollback. Zero fields
// leave the setting as it is. Settings are absolute, not factors: a
// rollback may land on a state saved after an earlier remedy, and factors
// would compound.
type Remedy struct {
	Pack  int     `json:"pack,omitempty"`  // D judges this many samples at once (PacGAN); D is made afresh
	Noise float64 `json:"noise,omitempty"` // instance-noise std on D's inputs
	LRG   float64 `json:"lr_g,omitempty"`  // G's learning rate
	LRD   float64 `json:"lr_d,omitempty"`  // D's learning rate
}

func (r Remedy) String() string {
	var p []string
	if r.Pack > 1 {
		p = append(p, fmt.Sprintf("pack %d", r.Pack))
	}
	if r.Noise > 0 {
		p = append(p, fmt.Sprintf("instance noise %g", r.Noise))
	}
	if r.LRG > 0 {
		p = append(p, fmt.Sprintf("G lr %g", r.LRG))
	}
	if r.LRD > 0 {
		p = append(p, fmt.Sprintf("D lr %g", r.LRD))
	}
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(p, ", ")
}

// Apply changes the running configuration. A new packing degree changes
// D's input width, so D starts again from fresh weights and moments; G
// keeps what it learnt.
func (r Remedy) Apply(m *MLPGAN) error {
	c := m.cfg
	if r.Pack > 0 {
		c.Pack = r.Pack
	}
	if r.Noise > 0 {
		c.Noise = r.Noise
	}
	if r.LRG > 0 {
		c.LRG = r.LRG
	}
	if r.LRD > 0 {
		c.LRD = r.LRD
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("remedy %s: %w", r, err)
	}
	if c.Pack != m.cfg.Pack {
		m.D = mlpNet(m.rng, 2*c.Pack, c.Hidden, c.Layers, 1)
		m.optD = nn.NewAdam(c.LRD, c.Beta1, c.Beta2, m.D.Params)
	}
	m.optG.LR, m.optD.LR = c.LRG, c.LRD
	m.cfg = c
	if err := m.compile(); err != nil {
		return fmt.Errorf("remedy %s: %w", r, err)
	}
	return nil
}
