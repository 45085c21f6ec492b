// Package server is the studio's HTTP side: Echo routes that parse a
// request, call store and jobs, and render a web/ page or JSON.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/ganstudio/ganstudio/assets"
	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/store"
	"github.com/ganstudio/ganstudio/web"
)

// Options tune the server.
type Options struct {
	MaxUpload int64           // bytes in one upload request
	Limits    datasets.Limits // per-image and per-import limits
	// AllowedHosts are the host names (without port) requests may be
	// addressed to; empty allows any. A studio on the loopback address
	// answers only to loopback names, so a web page cannot reach it by
	// rebinding its own domain name to 127.0.0.1.
	AllowedHosts []string
	// MaxImports is how many uploads are prepared at once. Each holds its
	// images while they are prepared (up to 600 MB for 50 000 at 64 px) and
	// one file at a time (up to 64 MB); a further upload waits ImportWait
	// for a turn and is then answered 503 with Retry-After. Decoding itself
	// is bounded across the process by datasets.SetDecodeMemory.
	MaxImports int
	ImportWait time.Duration
	Logger     *slog.Logger
	// RequireSignIn asks for an account even before any exists (a studio
	// reachable from other machines); without it sign-in is asked for
	// once any account exists.
	RequireSignIn bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; from anyone else they are ignored.
	TrustedProxies []*net.IPNet
}

// LoopbackHosts are the names of this machine seen from itself.
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// DefaultOptions suit one machine, listening on its loopback address.
func DefaultOptions() Options {
	return Options{MaxUpload: 1 << 30, Limits: datasets.DefaultLimits(), AllowedHosts: LoopbackHosts,
		MaxImports: 4, ImportWait: 15 * time.Second, Logger: slog.Default()}
}

// Server holds what the handlers need.
type Server struct {
	st       *store.Store
	q        *jobs.Queue
	opts     Options
	log      *slog.Logger
	previews sync.Map      // dataset id → preview PNG
	imports  chan struct{} // a token per upload being prepared
}

// New returns the studio's HTTP handler.
func New(st *store.Store, q *jobs.Queue, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{st: st, q: q, opts: opts, log: opts.Logger, imports: make(chan struct{}, max(1, opts.MaxImports))}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// The client's address (sign-in limits, the audit trail) is the
	// connection's, unless it comes through a trusted proxy.
	e.IPExtractor = echo.ExtractIPDirect()
	if len(opts.TrustedProxies) > 0 {
		var trust []echo.TrustOption
		for _, n := range opts.TrustedProxies {
			trust = append(trust, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(append(trust, echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false))...)
	}
	e.Use(middleware.Recover())
	if len(opts.AllowedHosts) > 0 {
		e.Use(allowHosts(opts.AllowedHosts))
	}
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY",
		ReferrerPolicy: "same-origin",
		// Nothing is ever loaded from another host.
		ContentSecurityPolicy: "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; " +
			"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
	}))
	e.Use(middleware.BodyLimit(fmt.Sprint(opts.MaxUpload/1024) + "K"))
	// Forms carry a token; the JSON API is for scripts (no cookies) and is
	// guarded against cross-site browsers by http.CrossOriginProtection below.
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{
		Skipper:        func(c echo.Context) bool { return strings.HasPrefix(c.Path(), "/api/") },
		TokenLookup:    "header:X-CSRF-Token,form:_csrf",
		CookieName:     "ganstudio_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteStrictMode,
		// A missing token and a forged one are the same refusal (echo
		// answers the first with a bare 400).
		ErrorHandler: func(error, echo.Context) error { return errCSRF },
	}))
	e.Use(s.authenticate)
	s.routes(e)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":"cross-site requests are refused; use the studio's own pages, or a script without a browser"}` + "\n"))
	}))
	return cop.Handler(e)
}

func (s *Server) routes(e *echo.Echo) {
	e.GET("/assets/*", echo.WrapHandler(http.StripPrefix("/assets/", assets.Handler())))
	e.GET("/favicon.ico", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/assets/img/icon.svg") })

	e.GET("/signin", s.signInPage)
	e.POST("/signin", s.signIn)
	e.POST("/signout", s.signOut)
	e.GET("/account", s.accountPage)
	e.POST("/account/password", s.changePassword)
	e.POST("/account/signout-all", s.signOutEverywhere)
	e.POST("/account/tokens", s.addToken)
	e.POST("/account/tokens/:id/revoke", s.revokeToken)
	e.GET("/admin", s.adminPage)
	e.POST("/admin/users", s.adminAddUser)
	e.POST("/admin/users/:id/:action", s.adminUser) // disable, enable, remove

	e.GET("/", s.dashboard)
	e.GET("/panel/runs", s.runCardsPanel)
	e.GET("/datasets", s.datasetsPage)
	e.GET("/datasets/:id", s.datasetPage)
	e.GET("/datasets/:id/preview.png", s.datasetPreview)
	e.POST("/datasets/:id/delete", s.datasetDelete)
	e.GET("/runs/new", s.newRunPage)
	e.GET("/runs/new/plan", s.planJSON)
	e.POST("/runs", s.newRunSubmit)
	e.GET("/runs/:id", s.runPage)
	e.GET("/runs/:id/live", s.runLive)
	e.GET("/runs/:id/panel/:part", s.runPanel)
	e.POST("/runs/:id/delete", s.runDelete)
	e.POST("/runs/:id/:action", s.runAction) // pause, resume, cancel, generate
	e.GET("/runs/:id/samples", s.samplesPage)
	e.GET("/runs/:id/rate", s.ratePage)
	e.GET("/runs/:id/interpolate.png", s.interpolatePNG)
	e.GET("/runs/:id/grids/:file", s.gridPNG)
	e.GET("/runs/:id/checkpoints/:file", s.checkpointFile)
	e.GET("/runs/:id/metrics.csv", s.metricsCSV)
	e.GET("/runs/:id/samples.zip", s.samplesZip)
	e.POST("/runs/:id/samples.zip", s.samplesZip)
	e.GET("/samples/:file", s.samplePNG)
	e.POST("/samples/:id/rating", s.rateForm)

	api := e.Group("/api")
	api.GET("/datasets", s.apiDatasets)
	api.POST("/datasets", s.apiCreateDataset)
	api.GET("/datasets/:id", s.apiDataset)
	api.DELETE("/datasets/:id", s.apiDeleteDataset)
	api.GET("/runs", s.apiRuns)
	api.POST("/runs", s.apiCreateRun)
	api.GET("/runs/:id", s.apiRun)
	api.DELETE("/runs/:id", s.apiDeleteRun)
	api.POST("/runs/:id/:action", s.apiRunAction) // pause, resume, cancel, generate
	api.GET("/runs/:id/samples", s.apiSamples)
	api.GET("/runs/:id/samples.zip", s.samplesZip)
	api.POST("/samples/:id/rating", s.apiRate)
}

// fromTrustedProxy reports whether the request came straight from one of
// Options.TrustedProxies.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	for _, n := range s.opts.TrustedProxies {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// allowHosts refuses requests addressed to any other host name.
func allowHosts(hosts []string) echo.MiddlewareFunc {
	ok := map[string]bool{}
	for _, h := range hosts {
		ok[strings.ToLower(h)] = true
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			host := c.Request().Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if !ok[strings.ToLower(strings.Trim(host, "[]"))] {
				return echo.NewHTTPError(http.StatusForbidden,
					fmt.Sprintf("this studio answers to %s only; start it with --addr to serve other names", strings.Join(hosts, ", ")))
			}
			return next(c)
		}
	}
}

// errCSRF refuses a form posted without the token its page carried.
var errCSRF = echo.NewHTTPError(http.StatusForbidden, "this form has expired or came from another site; reload the page and try again")

// apiError is the JSON body of every API error.
type apiError struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

// fieldErrors is a bad form: a message per field.
type fieldErrors map[string]string

func (f fieldErrors) Error() string {
	var parts []string
	for k, v := range f {
		parts = append(parts, k+": "+v)
	}
	return strings.Join(parts, "; ")
}

// statusOf maps an error to the HTTP status a user should see.
func statusOf(err error) int {
	var he *echo.HTTPError
	var fe fieldErrors
	switch {
	case errors.As(err, &he):
		return he.Code
	case errors.As(err, &fe):
		return http.StatusUnprocessableEntity
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNoCheckpoint):
		return http.StatusNotFound
	case errors.Is(err, store.ErrInUse), errors.Is(err, store.ErrState):
		return http.StatusConflict
	case errors.Is(err, context.Canceled):
		return 499
	case store.IsDiskFull(err):
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := statusOf(err)
	msg := err.Error()
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg = fmt.Sprint(he.Message)
		if he.Code == http.StatusRequestEntityTooLarge {
			msg = fmt.Sprintf("the upload is larger than the %d MB this studio accepts", s.opts.MaxUpload>>20)
		}
	}
	switch {
	case code == http.StatusInsufficientStorage:
		s.log.Error("disk full", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		msg = "the studio's disk is full; nothing was saved. Free some space (deleting old runs frees their checkpoints, the largest files) and try again"
	case code == http.StatusServiceUnavailable:
		s.log.Warn("request refused for now", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	case code >= 500:
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		msg = "something went wrong on the server: " + msg
	}
	if strings.HasPrefix(c.Request().URL.Path, "/api/") || strings.Contains(c.Request().Header.Get("Accept"), "application/json") {
		body := apiError{Error: msg}
		var fe fieldErrors
		if errors.As(err, &fe) {
			body.Fields = fe
		}
		c.JSON(code, body)
		return
	}
	s.render(c, code, web.ErrorPage(s.page(c, "Error"), code, msg))
}

// render writes a templ component as the response.
func (s *Server) render(c echo.Context, code int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(code)
	return comp.Render(c.Request().Context(), c.Response())
}

// page is what every page's layout needs.
func (s *Server) page(c echo.Context, title string) web.Page {
	tok, _ := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string)
	p := web.Page{Title: title, CSRF: tok, Path: c.Request().URL.Path}
	if u := user(c); u != nil {
		p.User, p.Admin = u.Name, u.Admin
	}
	return p
}

// id reads a numeric path parameter.
func id(c echo.Context, name string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSuffix(c.Param(name), ".png"), ".gob"), 10, 64)
	if err != nil || v <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("%q is not an id", c.Param(name)))
	}
	return v, nil
}

func (s *Server) runOf(c echo.Context) (*store.Run, error) {
	rid, err := id(c, "id")
	if err != nil {
		return nil, err
	}
	return s.st.Run(c.Request().Context(), rid)
}
