// Package spec is the vocabulary a training run shares with the studio:
// its configuration, the collapse policy and the guard that applies it, a
// health report, a step's figures and the device names. It imports nothing
// numeric, so the store and the pages link no gorgonia; package gan
// trains by it.
package spec
