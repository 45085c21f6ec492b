package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/store"
	"github.com/ganstudio/ganstudio/web"
)

// UploadRes is the most an upload is kept at: each upload is kept at the
// largest side its images support up to this (datasets.NewImporterUpTo),
// and runs at smaller sides downsample it.
const UploadRes = datasets.MaxRes

// importUpload reads a multipart upload — a "name" field and one or more
// "files" parts, each an image or a zip of images — part by part, without
// holding the request in memory, and saves the dataset. Nothing is saved
// unless the whole upload was read and at least one image was usable.
func (s *Server) importUpload(c echo.Context) (*store.Dataset, error) {
	ctx := c.Request().Context()
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return nil, fieldErrors{"files": "send the images as a multipart form (field \"files\")"}
	}
	// Wait for a turn before reading the body: an upload waiting holds
	// nothing but its connection.
	done, err := s.importTurn(c)
	if err != nil {
		return nil, err
	}
	defer done()
	im := datasets.NewImporterUpTo("", UploadRes, s.opts.Limits)
	name, files := "", 0
	var zips []string // names of the zip files sent
	var read int64
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, uploadErr(err)
		}
		switch part.FormName() {
		case "name":
			b, _ := io.ReadAll(io.LimitReader(part, 200))
			name = strings.TrimSpace(string(b))
		case "files", "files[]":
			files++
			fname := cleanName(rawFileName(part))
			if datasets.SkipName(fname) {
				io.Copy(io.Discard, part)
				continue
			}
			n, zip, err := s.addPart(c, im, fname, part)
			read += n
			if zip {
				zips = append(zips, fname)
			}
			if err != nil {
				return nil, err
			}
		case "_csrf":
		default:
			return nil, fieldErrors{part.FormName(): "unknown field; send \"name\" and \"files\""}
		}
		part.Close()
	}
	if files == 0 {
		return nil, fieldErrors{"files": "choose some images or a zip of images"}
	}
	ds, rep, err := im.Finish()
	report := store.ImportReport{Files: files, Upsampled: rep.Upsampled}
	for _, sk := range rep.Skipped {
		report.Skipped = append(report.Skipped, store.SkippedFile{Name: sk.Name, Reason: sk.Reason})
	}
	if err != nil {
		return nil, &importError{err: err, report: report}
	}
	if name == "" {
		name = defaultName(ds.Names, zips)
	}
	if utf8.RuneCountInString(name) > 80 {
		return nil, fieldErrors{"name": "keep the name under 80 characters"}
	}
	d := &store.Dataset{Name: name, Res: ds.Size, Count: ds.Len(), Bytes: read, Report: report}
	if err := s.st.CreateDataset(ctx, d, ds.WriteTiles); err != nil {
		return nil, err
	}
	s.log.Info("dataset imported", "id", d.ID, "name", d.Name, "images", d.Count, "res", d.Res, "skipped", len(report.Skipped))
	s.audit(c, "uploaded a dataset", fmt.Sprintf("%d %q: %d images", d.ID, d.Name, d.Count))
	return d, nil
}

// importTurn takes one of the MaxImports turns, waiting up to ImportWait
// for one, and returns the function that gives it back; past the wait, a
// 503 with Retry-After.
func (s *Server) importTurn(c echo.Context) (func(), error) {
	done := func() { <-s.imports }
	select {
	case s.imports <- struct{}{}: // a free turn is taken even with no wait
		return done, nil
	default:
	}
	wait := time.NewTimer(s.opts.ImportWait)
	defer wait.Stop()
	select {
	case s.imports <- struct{}{}:
		return done, nil
	case <-wait.C:
		c.Response().Header().Set("Retry-After", "10")
		return nil, echo.NewHTTPError(http.StatusServiceUnavailable,
			fmt.Sprintf("the studio is preparing %s; nothing was saved: send it again in a few seconds", web.Plural(cap(s.imports), "other upload")))
	case <-c.Request().Context().Done():
		return nil, c.Request().Context().Err()
	}
}

// addPart adds one uploaded file: a zip goes through a temporary file
// (zip needs random access), an image straight from the request. It says
// how many bytes it read and whether the file was a zip.
func (s *Server) addPart(c echo.Context, im *datasets.Importer, name string, part *multipart.Part) (int64, bool, error) {
	head := make([]byte, 4)
	n, _ := io.ReadFull(part, head)
	body := io.MultiReader(bytes.NewReader(head[:n]), part)
	if !bytes.Equal(head[:n], []byte("PK\x03\x04")) && !strings.EqualFold(path.Ext(name), ".zip") {
		cr := &countReader{r: body}
		err := im.Add(c.Request().Context(), name, cr)
		return cr.n, false, err
	}
	// In the data folder, named for this process: if it is killed now,
	// the next start removes the file.
	tmp, err := s.st.TempFile("upload-*.zip")
	if err != nil {
		return 0, true, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, body)
	if err != nil {
		return size, true, uploadErr(err)
	}
	if err := im.AddZip(c.Request().Context(), tmp, size, name, nil); err != nil {
		return size, true, &importError{err: err}
	}
	return size, true, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// importError is an upload that yielded no dataset; the report says why
// for each file.
type importError struct {
	err    error
	report store.ImportReport
}

func (e *importError) Error() string { return "import: " + e.err.Error() }
func (e *importError) Unwrap() error { return e.err }

func uploadErr(err error) error {
	var mbe *http.MaxBytesError
	var he *echo.HTTPError
	switch {
	case store.IsDiskFull(err):
		return err // 507, from handleError
	case errors.As(err, &he):
		return he // the body limit's 413 on a chunked upload
	case errors.As(err, &mbe):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is larger than the %d MB limit", mbe.Limit>>20))
	}
	return echo.NewHTTPError(http.StatusBadRequest, "the upload was cut short: "+err.Error())
}

// rawFileName is the file name the client sent, folders included:
// Part.FileName keeps only its last element, and a folder chosen in the
// browser sends "folder/file.png".
func rawFileName(part *multipart.Part) string {
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	if err != nil || params["filename"] == "" {
		return part.FileName()
	}
	return params["filename"]
}

// cleanName keeps only what a report needs of a client's file name: a
// relative path with no "..", for display only; nothing is written there.
func cleanName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	var keep []string
	for _, p := range strings.Split(name, "/") {
		if p != "" && p != "." && p != ".." {
			keep = append(keep, p)
		}
	}
	name = strings.Join(keep, "/")
	if !utf8.ValidString(name) || name == "" {
		return "(unnamed)"
	}
	if len(name) > 200 {
		name = "…" + name[len(name)-199:]
	}
	return name
}

// defaultName names a dataset after the zip its images came from (when
// one zip was sent) or the folder.
func defaultName(names, zips []string) string {
	if len(zips) == 1 {
		if base := strings.TrimSuffix(path.Base(zips[0]), path.Ext(zips[0])); base != "" && base != "." {
			return base
		}
	}
	if len(names) > 0 {
		if dir := path.Dir(names[0]); dir != "." {
			return strings.SplitN(dir, "/", 2)[0]
		}
	}
	return "upload of " + web.Plural(len(names), "image")
}

func (s *Server) datasetsPage(c echo.Context) error {
	list, err := s.st.Datasets(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, web.DatasetsPage(s.page(c, "Datasets"), list, s.opts.MaxUpload))
}

// datasetOf returns the dataset named in the path.
func (s *Server) datasetOf(c echo.Context) (*store.Dataset, error) {
	did, err := id(c, "id")
	if err != nil {
		return nil, err
	}
	return s.st.Dataset(c.Request().Context(), did)
}

func (s *Server) datasetPage(c echo.Context) error {
	d, err := s.datasetOf(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, web.DatasetPage(s.page(c, d.Name), d, c.QueryParam("error")))
}

// datasetPreview draws up to 64 of the dataset's images as a grid. Datasets
// never change, so each preview is drawn once and kept (a few tens of KB).
func (s *Server) datasetPreview(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.datasetOf(c)
	if err != nil {
		return err
	}
	pic, ok := s.previews.Load(d.ID)
	if !ok {
		b, err := drawPreview(ctx, s.st, d)
		if err != nil {
			return err
		}
		pic, _ = s.previews.LoadOrStore(d.ID, b)
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=3600")
	return c.Blob(http.StatusOK, "image/png", pic.([]byte))
}

// previewRes is the side a preview shows: enough to see what the images
// are, and a 256 px dataset is read at 64 px (its cached copy, the one a
// 64 px run reads too) rather than held whole at 256 for a picture.
const previewRes = 64

func drawPreview(ctx context.Context, st *store.Store, d *store.Dataset) ([]byte, error) {
	ds, err := jobs.LoadDataset(ctx, st, d, min(d.MaxRes(), previewRes))
	if err != nil {
		return nil, err
	}
	n := min(ds.Len(), 64)
	imgs := make([][]float32, n)
	for i := range imgs {
		imgs[i] = ds.Float(i * ds.Len() / n)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, gan.Grid(imgs, ds.Size, 8)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (s *Server) datasetDelete(c echo.Context) error {
	did, err := id(c, "id")
	if err != nil {
		return err
	}
	if err := s.deleteDataset(c, did); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/datasets/%d?error=%s", did, urlQuery(err.Error())))
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/datasets")
}
