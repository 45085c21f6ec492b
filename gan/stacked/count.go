package stacked

import "math"

// Modes is what the papers report of a sample's digit triples.
type Modes struct {
	Samples int `json:"samples"`
	// Modes is the number of distinct triples found, of 1,000.
	Modes int `json:"modes"`
	// KL is KL(p ‖ uniform) of the triples' distribution p, in nats:
	// 0 when every triple is found equally often, log 1000 ≈ 6.9 when all
	// the samples are one triple. A finite sample of a uniform generator
	// scores about 999/(2·Samples) (0.019 at the papers' 26,000).
	KL float64 `json:"kl"`
}

// Count counts the modes and the KL to uniform of triples (each 0–999).
func Count(triples []int) Modes {
	var n [1000]int
	for _, t := range triples {
		n[t]++
	}
	m := Modes{Samples: len(triples)}
	for _, k := range n {
		if k == 0 {
			continue
		}
		m.Modes++
		p := float64(k) / float64(len(triples))
		m.KL += p * math.Log(p*1000)
	}
	return m
}
