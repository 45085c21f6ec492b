// Package atomicfile writes files so that readers and crashes see either the
// old content or the new, never part of it. Temporary files made in a folder
// of their own carry the name of the process that made them, so that a
// later start can sweep what a killed process left there (Sweep).
package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ganstudio/ganstudio/internal/proc"
)

// Write calls fill with a buffered writer on a temporary file beside path,
// flushes it to disk and renames it over path. On any error the temporary
// file is removed and path is left as it was.
func Write(path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	return finish(f, path, fill)
}

// WriteVia is Write with the temporary file in tmpDir (on the same file
// system as path), named for its owner so that Sweep can clear it.
func WriteVia(tmpDir, path string, fill func(io.Writer) error) error {
	f, err := CreateTemp(tmpDir, filepath.Base(path))
	if err != nil {
		return err
	}
	return finish(f, path, fill)
}

func finish(f *os.File, path string, fill func(io.Writer) error) (err error) {
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = Fill(f, fill); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Fill calls fill with a buffered writer on f and flushes it, leaving f
// open: for a temporary file that goes on elsewhere whole.
func Fill(f *os.File, fill func(io.Writer) error) error {
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := fill(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// CreateTemp makes a temporary file in dir (made if needed) whose name
// starts with this process's tag; the caller removes it when done.
func CreateTemp(dir, pattern string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pattern = strings.ReplaceAll(pattern, "/", "_")
	if !strings.Contains(pattern, "*") {
		pattern += ".*"
	}
	return os.CreateTemp(dir, proc.Self().Tag()+"."+pattern)
}

// Sweep removes the files in dir that CreateTemp made for processes known
// to have ended. A file whose owner cannot be checked (one made on another
// machine or in another container sharing the folder, or not by
// CreateTemp) is removed once it is foreignAge old. It says how many files
// and bytes it removed.
func Sweep(dir string, foreignAge time.Duration) (files int, bytes int64, err error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	var errs []error
	for _, e := range ents {
		tag, _, _ := strings.Cut(e.Name(), ".")
		gone, known := proc.TagGone(tag)
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if !gone && (known || time.Since(info.ModTime()) < foreignAge) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		files++
		bytes += info.Size()
	}
	return files, bytes, errors.Join(errs...)
}
