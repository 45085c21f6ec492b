package datasets

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"runtime/debug"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// DefaultDecodeMemory is how much memory decoding images may take at once
// across the whole process. The largest image the default limits let in
// (8192×8192 16-bit RGBA: 512 MiB decoded) decodes beside small ones only;
// a 12-megapixel JPEG takes about 90 MB, so ten of those decode at once.
const DefaultDecodeMemory = 1 << 30

// decodeBudget is shared by every import in the process, whichever request
// or command started it: memory is the process's, not a request's.
var decodeBudget atomic.Pointer[budget]

func init() { SetDecodeMemory(DefaultDecodeMemory) }

// SetDecodeMemory sets the process's decode budget in bytes. Call it at
// start, before any import.
func SetDecodeMemory(bytes int64) {
	decodeBudget.Store(&budget{sem: semaphore.NewWeighted(bytes), size: bytes})
}

// DecodeMemory is the process's decode budget in bytes.
func DecodeMemory() int64 { return decodeBudget.Load().size }

type budget struct {
	sem  *semaphore.Weighted
	size int64
}

// returnAfter is the size of a decode after which the memory is handed back
// to the system at once: without it the process keeps the gigabyte that one
// 8192×8192 image took for minutes.
const returnAfter = 64 << 20

// take waits until cost bytes of the budget are free (first come, first
// served) and returns the function that gives them back. A cost larger
// than the whole budget takes all of it: that image decodes alone.
func (b *budget) take(ctx context.Context, cost int64) (func(), error) {
	cost = min(max(cost, 1), b.size)
	if err := b.sem.Acquire(ctx, cost); err != nil {
		return nil, fmt.Errorf("waiting for memory to decode: %w", err)
	}
	return func() {
		if cost >= returnAfter {
			debug.FreeOSMemory()
		}
		b.sem.Release(cost)
	}, nil
}

// decodeCost is an upper bound on the memory that decoding and preparing
// one image takes, from its header: the decoded pixels (with the extra
// copies some decoders make), the file itself and the resizer's rows.
func decodeCost(data []byte, cfg image.Config, format string) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	per := bytesPerPixel(cfg.ColorModel)
	switch format {
	case "png":
		if len(data) > 28 && data[28] == 1 {
			per *= 2 // Adam7: each pass decoded on its own, then the whole
		}
	case "jpeg":
		per += 4 // EXIF orientation rotates into a new 8-bit RGBA image
		if progressiveJPEG(data) {
			per += 4 * comps(cfg.ColorModel) // int32 coefficients per component until the last scan
		}
	case "webp":
		per = 5 // lossless: 8-bit RGBA; lossy with alpha: Y, Cb, Cr at ¼ and A
	}
	rows := int64(max(cfg.Width, cfg.Height)) * 64 * 4 * 4 // resizing: a 64-wide strip, and its weights
	return px*per + int64(len(data)) + rows
}

func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4 at most
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

func comps(m color.Model) int64 {
	switch m {
	case color.GrayModel:
		return 1
	case color.CMYKModel:
		return 4
	}
	return 3
}

// progressiveJPEG reports whether a JPEG's frame header is progressive
// (SOF2, SOF6, SOF10 or SOF14), walking its markers up to the frame.
func progressiveJPEG(data []byte) bool {
	if !bytes.HasPrefix(data, []byte{0xff, 0xd8}) {
		return false
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xff {
			return false
		}
		m := data[i+1]
		switch {
		case m == 0xff: // padding
			i++
			continue
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			return m&3 == 2 // SOF2, SOF6, SOF10, SOF14
		}
		i += 2 + int(data[i+2])<<8 + int(data[i+3])
	}
	return false
}
