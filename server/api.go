package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/store"
)

type jsonDataset struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Builtin string `json:"builtin,omitempty"`
	Res     int    `json:"res"`     // side the images are kept at, as before
	MaxRes  int    `json:"max_res"` // the largest side a run on it can have (the same figure)
	// Resolutions are the run sides the dataset serves, smallest first:
	// what the new-run form offers.
	Resolutions []int              `json:"resolutions"`
	Count       int                `json:"count"`
	Bytes       int64              `json:"bytes"`
	Report      store.ImportReport `json:"report"`
}

func toJSONDataset(d *store.Dataset) jsonDataset {
	return jsonDataset{ID: d.ID, Name: d.Name, Builtin: d.Builtin, Res: d.Res, MaxRes: d.MaxRes(), Resolutions: d.Resolutions(),
		Count: d.Count, Bytes: d.Bytes, Report: d.Report}
}

func (s *Server) apiDatasets(c echo.Context) error {
	list, err := s.st.Datasets(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]jsonDataset, 0, len(list))
	for _, d := range list {
		out = append(out, toJSONDataset(d))
	}
	return c.JSON(http.StatusOK, map[string]any{"datasets": out})
}

func (s *Server) apiCreateDataset(c echo.Context) error {
	d, err := s.importUpload(c)
	var ie *importError
	if errors.As(err, &ie) {
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{"error": ie.Error(), "report": ie.report})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toJSONDataset(d))
}

func (s *Server) apiDataset(c echo.Context) error {
	d, err := s.datasetOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toJSONDataset(d))
}

func (s *Server) apiDeleteDataset(c echo.Context) error {
	did, err := id(c, "id")
	if err != nil {
		return err
	}
	if err := s.deleteDataset(c, did); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiRuns(c echo.Context) error {
	runs, err := s.st.Runs(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]jsonRun, 0, len(runs))
	for _, r := range runs {
		j, _ := s.jsonRun(c, r, false)
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, map[string]any{"runs": out})
}

func (s *Server) apiCreateRun(c echo.Context) error {
	var body runBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	// The form reads an empty choice as "the default"; over the API an
	// empty string was sent on purpose and is as wrong as any other.
	if body.CollapsePolicy != nil && *body.CollapsePolicy == "" {
		return fieldErrors{"collapse_policy": "repair, warn or off"}
	}
	if body.Device != nil && *body.Device == "" {
		return fieldErrors{"device": "a device name, such as cpu"}
	}
	if body.Goal != nil && *body.Goal == "" {
		return fieldErrors{"goal": "quick, balanced or best"}
	}
	if body.Augment != nil && strings.TrimSpace(*body.Augment) == "" {
		return fieldErrors{"augment": `"auto", "off", or a fixed strength from "0" to "1"`}
	}
	f := body.form()
	r, errs := toRun(c, s, f)
	if errs != nil {
		return errs
	}
	if err := s.createRun(c, r); err != nil {
		return err
	}
	j, err := s.jsonRun(c, r, false)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, j)
}

func (s *Server) apiRun(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	j, err := s.jsonRun(c, r, true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

func (s *Server) apiDeleteRun(c echo.Context) error {
	rid, err := id(c, "id")
	if err != nil {
		return err
	}
	if err := s.deleteRun(c, rid); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiRunAction(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	if c.Param("action") == "session" {
		var body struct {
			N *int `json:"n"` // left out: jobs.DefaultSession
		}
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
		n := jobs.DefaultSession
		if body.N != nil {
			n = *body.N
		}
		if n < 1 || n > jobs.MaxSession {
			return fieldErrors{"n": fmt.Sprintf("between 1 and %d", jobs.MaxSession)}
		}
		got, err := s.session(c, r, n)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, map[string]any{"samples": jsonSamples(got)})
	}
	if c.Param("action") == "generate" {
		var body struct {
			N    *int `json:"n"`    // left out: 16
			Step *int `json:"step"` // left out: as from says
			// From is "best" or "latest"; left out (with no step), the
			// best step when one was measured, else the latest.
			From *string `json:"from"`
			Bias bool    `json:"bias"` // near liked samples' latents
		}
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
		n := 16
		if body.N != nil {
			n = *body.N
		}
		if n < 1 || n > jobs.MaxGenerate {
			return fieldErrors{"n": fmt.Sprintf("between 1 and %d", jobs.MaxGenerate)}
		}
		if body.Step != nil && *body.Step < 0 {
			return fieldErrors{"step": "the step of a snapshot with a checkpoint, from 0"}
		}
		if body.From != nil && *body.From != "best" && *body.From != "latest" {
			return fieldErrors{"from": `"best" or "latest"`}
		}
		if body.From != nil && body.Step != nil {
			return fieldErrors{"from": "send step or from, not both"}
		}
		from := ""
		switch {
		case body.Step != nil:
			from = fmt.Sprint(*body.Step)
		case body.From != nil:
			from = *body.From
		}
		step, err := s.generateStep(c.Request().Context(), r, from)
		if err != nil {
			return err
		}
		got, err := jobs.Generate(c.Request().Context(), s.st, r, step, n, body.Bias)
		if errors.Is(err, gan.ErrNoLiked) {
			return fieldErrors{"bias": "like a few samples first: biased latents start from liked ones"}
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, map[string]any{"samples": jsonSamples(got)})
	}
	step := -1
	if c.Param("action") == "rollback" {
		var body struct {
			Step *int `json:"step"`
		}
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
		if body.Step == nil || *body.Step < 0 {
			return fieldErrors{"step": "the step of a snapshot with a checkpoint, from 0"}
		}
		step = *body.Step
	}
	if err := s.control(c, r, c.Param("action"), step); err != nil {
		return err
	}
	if r, err = s.st.Run(c.Request().Context(), r.ID); err != nil {
		return err
	}
	j, err := s.jsonRun(c, r, false)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

type jsonSample struct {
	ID     int64  `json:"id"`
	Step   int    `json:"step"`
	Origin string `json:"origin"`
	Rating int    `json:"rating"`
	URL    string `json:"url"`
}

func jsonSamples[T store.Sample | *store.Sample](list []T) []jsonSample {
	out := make([]jsonSample, 0, len(list))
	for _, x := range list {
		var s store.Sample
		switch v := any(x).(type) {
		case store.Sample:
			s = v
		case *store.Sample:
			s = *v
		}
		out = append(out, jsonSample{ID: s.ID, Step: s.Step, Origin: s.Origin, Rating: s.Rating, URL: fmt.Sprintf("/samples/%d.png", s.ID)})
	}
	return out
}

// sampleQuery reads the gallery's filters: step, rating (1, -1, 0 or
// "any"), page.
func sampleQuery(c echo.Context, runID int64, perPage int) (store.SampleQuery, int, error) {
	q := store.SampleQuery{RunID: runID, Step: -1, Limit: perPage}
	if v := c.QueryParam("step"); v != "" && v != "any" {
		st, err := strconv.Atoi(v)
		if err != nil || st < 0 {
			return q, 0, fieldErrors{"step": "a step number"}
		}
		q.Step = st
	}
	if v := c.QueryParam("rating"); v != "" && v != "any" {
		r, err := strconv.Atoi(v)
		if err != nil || r < -1 || r > 1 {
			return q, 0, fieldErrors{"rating": "1, -1, 0 or any"}
		}
		q.Rating = &r
	}
	page := 1
	if v := c.QueryParam("page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			return q, 0, fieldErrors{"page": "a page number from 1"}
		}
		page = p
	}
	q.Offset = (page - 1) * perPage
	return q, page, nil
}

func (s *Server) apiSamples(c echo.Context) error {
	r, err := s.runOf(c)
	if err != nil {
		return err
	}
	q, _, err := sampleQuery(c, r.ID, 0)
	if err != nil {
		return err
	}
	list, total, err := s.st.Samples(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"samples": jsonSamples(list), "total": total})
}

func (s *Server) apiRate(c echo.Context) error {
	sid, err := id(c, "id")
	if err != nil {
		return err
	}
	var body struct {
		Value *int `json:"value"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.Value == nil || *body.Value < -1 || *body.Value > 1 {
		return fieldErrors{"value": "1 (like), -1 (dislike) or 0 (clear)"}
	}
	sm, err := s.st.Rate(c.Request().Context(), sid, *body.Value)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, jsonSamples([]*store.Sample{sm})[0])
}
