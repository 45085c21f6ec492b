package server

import (
	"archive/zip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/disintegration/imaging"
	"github.com/labstack/echo/v4"

	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/store"
	"github.com/ganstudio/ganstudio/web"
)

const perPage = 48

func (s *Server) samplesPage(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	q, page, err := sampleQuery(c, r.ID, perPage)
	if err != nil {
		return err
	}
	list, total, err := s.st.Samples(ctx, q)
	if err != nil {
		return err
	}
	steps, err := s.st.SampleSteps(ctx, r.ID)
	if err != nil {
		return err
	}
	snaps, err := s.st.Snapshots(ctx, r.ID)
	if err != nil {
		return err
	}
	best, err := s.best(ctx, r.ID)
	if err != nil {
		return err
	}
	v := web.GalleryView{Run: r, Samples: list, Total: total, Page: page, PerPage: perPage, Steps: steps,
		Step: c.QueryParam("step"), Rating: c.QueryParam("rating"), Snapshots: snaps, Best: best}
	return s.render(c, http.StatusOK, web.SamplesPage(s.page(c, fmt.Sprintf("Samples of run %d", r.ID)), v))
}

// rateForm rates from the gallery; htmx gets the sample's card back.
func (s *Server) rateForm(c echo.Context) error {
	sid, err := id(c, "id")
	if err != nil {
		return err
	}
	v, err := strconv.Atoi(c.FormValue("value"))
	if err != nil || v < -1 || v > 1 {
		return fieldErrors{"value": "1 (like), -1 (dislike) or 0 (clear)"}
	}
	sm, err := s.st.Rate(c.Request().Context(), sid, v)
	if err != nil {
		return err
	}
	if c.Request().Header.Get("HX-Request") != "" {
		return s.render(c, http.StatusOK, web.SampleCard(s.page(c, ""), sm))
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/runs/%d/samples", sm.RunID))
}

// copyBlob streams a blob as a download.
func (s *Server) copyBlob(c echo.Context, key, ctype, filename string) error {
	rc, err := s.st.Blobs.Open(c.Request().Context(), key)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, ctype)
	h.Set("Cache-Control", "private, max-age=86400")
	if filename != "" {
		h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", filename))
	}
	c.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(c.Response(), rc)
	return err
}

func (s *Server) samplePNG(c echo.Context) error {
	if !strings.HasSuffix(c.Param("file"), ".png") {
		return echo.NewHTTPError(http.StatusNotFound, "samples are served as /samples/ID.png")
	}
	sid, err := id(c, "file")
	if err != nil {
		return err
	}
	sm, err := s.st.Sample(c.Request().Context(), sid)
	if err != nil {
		return err
	}
	name := ""
	if c.QueryParam("download") != "" {
		name = fmt.Sprintf("run%d-step%d-sample%d.png", sm.RunID, sm.Step, sm.ID)
	}
	scale := c.QueryParam("scale")
	if scale == "" || scale == "1" {
		return s.copyBlob(c, store.SampleKey(sm.RunID, sm.ID), "image/png", name)
	}
	k, err := strconv.Atoi(scale)
	if err != nil || (k != 2 && k != 4) {
		return fieldErrors{"scale": "1, 2 or 4"}
	}
	img, err := s.sampleImage(c, sm)
	if err != nil {
		return err
	}
	b := img.Bounds()
	up := imaging.Resize(img, b.Dx()*k, b.Dy()*k, imaging.Lanczos)
	if name != "" {
		c.Response().Header().Set(echo.HeaderContentDisposition,
			fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("run%d-step%d-sample%d-x%d.png", sm.RunID, sm.Step, sm.ID, k)))
	}
	c.Response().Header().Set(echo.HeaderContentType, "image/png")
	return png.Encode(c.Response(), up)
}

func (s *Server) sampleImage(c echo.Context, sm *store.Sample) (image.Image, error) {
	rc, err := s.st.Blobs.Open(c.Request().Context(), store.SampleKey(sm.RunID, sm.ID))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return png.Decode(rc)
}

func stepOf(c echo.Context, suffix string) (int, error) {
	v, ok := strings.CutSuffix(c.Param("file"), suffix)
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "no such file")
	}
	return n, nil
}

func (s *Server) gridPNG(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	step, err := stepOf(c, ".png")
	if err != nil {
		return err
	}
	name := ""
	if c.QueryParam("download") != "" {
		name = fmt.Sprintf("run%d-grid-step%d.png", r.ID, step)
	}
	return s.copyBlob(c, store.GridKey(r.ID, step), "image/png", name)
}

func (s *Server) checkpointFile(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	step, err := stepOf(c, ".gob")
	if err != nil {
		return err
	}
	return s.copyBlob(c, store.CheckpointKey(r.ID, step), "application/octet-stream",
		fmt.Sprintf("run%d-step%d.ganstudio-checkpoint.gob", r.ID, step))
}

func (s *Server) metricsCSV(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ms, err := s.st.Metrics(ctx, r.ID)
	if err != nil {
		return err
	}
	snaps, err := s.st.Snapshots(ctx, r.ID)
	if err != nil {
		return err
	}
	swd := map[int]float64{}
	for _, sn := range snaps {
		if sn.SWD >= 0 {
			swd[sn.Step] = sn.SWD
		}
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=\"run%d-metrics.csv\"", r.ID))
	w := csv.NewWriter(c.Response())
	// aug_p and r_t come last so that readers of the older columns by
	// position still read them.
	w.Write([]string{"step", "loss_d", "loss_g", "d_real", "d_fake", "swd", "aug_p", "r_t"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, m := range ms {
		q := ""
		if v, ok := swd[m.Step]; ok {
			q = f(v)
		}
		w.Write([]string{strconv.Itoa(m.Step), f(m.LossD), f(m.LossG), f(m.DReal), f(m.DFake), q, f(m.AugP), f(m.RT)})
	}
	w.Flush()
	return w.Error()
}

// manifestEntry describes one image in a downloaded zip.
type manifestEntry struct {
	File   string    `json:"file"`
	Sample int64     `json:"sample"`
	Step   int       `json:"step"`
	Rating int       `json:"rating"`
	Latent []float32 `json:"latent"`
}

// samplesZip downloads a selection (POST ids), the liked ones (?rating=1),
// those of one step (?step=N, or ?step=best: the run page's default
// download), or all of a run's samples, with manifest.json.
func (s *Server) samplesZip(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	q := store.SampleQuery{RunID: r.ID, Step: -1}
	label := "all"
	if v := c.QueryParam("rating"); v != "" {
		rt, err := strconv.Atoi(v)
		if err != nil || rt < -1 || rt > 1 {
			return fieldErrors{"rating": "1, -1 or 0"}
		}
		q.Rating, label = &rt, map[int]string{1: "liked", -1: "disliked", 0: "unrated"}[rt]
	}
	if v := c.QueryParam("step"); v != "" && v != "any" {
		step, err := s.zipStep(c, r, v)
		if err != nil {
			return err
		}
		q.Step = step
		label = fmt.Sprintf("step%d-%s", step, label)
	}
	if c.Request().Method == http.MethodPost {
		form, err := c.FormParams()
		if err != nil {
			return err
		}
		for _, v := range form["ids"] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fieldErrors{"ids": "sample ids"}
			}
			q.IDs = append(q.IDs, n)
		}
		if len(q.IDs) == 0 {
			return fieldErrors{"ids": "select some samples first"}
		}
		if len(q.IDs) > 5000 {
			return fieldErrors{"ids": "select at most 5000 samples"}
		}
		label = "selection"
	}
	list, _, err := s.st.Samples(ctx, q)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return echo.NewHTTPError(http.StatusNotFound, "no samples match")
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/zip")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=\"run%d-%s-samples.zip\"", r.ID, label))
	c.Response().WriteHeader(http.StatusOK)
	zw := zip.NewWriter(c.Response())
	manifest := struct {
		Run     int64           `json:"run"`
		Seed    uint64          `json:"seed"`
		Created string          `json:"created"`
		Samples []manifestEntry `json:"samples"`
	}{Run: r.ID, Seed: r.Config.Seed, Created: time.Now().UTC().Format(time.RFC3339)}
	for _, sm := range list {
		name := fmt.Sprintf("step%06d-sample%d.png", sm.Step, sm.ID)
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: sm.Created})
		if err != nil {
			return err
		}
		rc, err := s.st.Blobs.Open(ctx, store.SampleKey(sm.RunID, sm.ID))
		if err != nil {
			return err
		}
		_, err = io.Copy(fw, rc)
		rc.Close()
		if err != nil {
			return err
		}
		manifest.Samples = append(manifest.Samples, manifestEntry{File: name, Sample: sm.ID, Step: sm.Step, Rating: sm.Rating, Latent: sm.Latent})
	}
	fw, err := zw.Create("manifest.json")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(fw)
	enc.SetIndent("", " ")
	if err := enc.Encode(manifest); err != nil {
		return err
	}
	return zw.Close()
}

// zipStep reads a zip's step: a number, or "best" for the run's best.
func (s *Server) zipStep(c echo.Context, r *store.Run, v string) (int, error) {
	if v == "best" {
		b, err := s.best(c.Request().Context(), r.ID)
		if err != nil {
			return 0, err
		}
		if b == nil {
			return 0, fieldErrors{"step": "no best step yet: quality is measured every few snapshots"}
		}
		return b.Step, nil
	}
	step, err := strconv.Atoi(v)
	if err != nil || step < 0 {
		return 0, fieldErrors{"step": "a step number, best or any"}
	}
	return step, nil
}

func (s *Server) interpolatePNG(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var ends [2]*store.Sample
	for i, k := range []string{"a", "b"} {
		n, err := strconv.ParseInt(c.QueryParam(k), 10, 64)
		if err != nil {
			return fieldErrors{k: "a sample id"}
		}
		if ends[i], err = s.st.Sample(ctx, n); err != nil {
			return err
		}
		if ends[i].RunID != r.ID || len(ends[i].Latent) != r.Config.ZDim {
			return fieldErrors{k: fmt.Sprintf("sample %d belongs to another run", n)}
		}
	}
	frames := 10
	if v := c.QueryParam("frames"); v != "" {
		if frames, err = strconv.Atoi(v); err != nil || frames < 2 || frames > 32 {
			return fieldErrors{"frames": "2 to 32 frames"}
		}
	}
	img, err := jobs.Interpolate(ctx, s.st, r, ends[0], ends[1], frames)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, "image/png")
	return png.Encode(c.Response(), img)
}
