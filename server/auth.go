package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ganstudio/ganstudio/store"
	"github.com/ganstudio/ganstudio/web"
)

// sessionCookie carries the session id (its hash alone is stored).
const sessionCookie = "ganstudio_session"

const userKey = "user" // the echo.Context key of the signed-in *store.User

// user is who made the request (nil: nobody signed in, which is allowed
// only on a loopback studio with no accounts).
func user(c echo.Context) *store.User {
	u, _ := c.Get(userKey).(*store.User)
	return u
}

// public paths need no sign-in: the sign-in page and what it is drawn with.
func public(path string) bool {
	return path == "/signin" || strings.HasPrefix(path, "/assets/") || path == "/favicon.ico"
}

// authenticate finds who a request is from (an API token in
// Authorization: Bearer, else the session cookie) and, where sign-in is
// required (Options.RequireSignIn, or once any account exists), refuses
// everyone else: the API with 401, pages by sending them to sign in.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ctx := r.Context()
		if auth := r.Header.Get("Authorization"); auth != "" {
			secret, ok := strings.CutPrefix(auth, "Bearer ")
			u, err := s.st.TokenUser(ctx, strings.TrimSpace(secret))
			if !ok || err != nil {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="ganstudio"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "this API token is not valid (revoked, or its account disabled)")
			}
			c.Set(userKey, u)
			return next(c)
		}
		if ck, err := r.Cookie(sessionCookie); err == nil {
			if u, err := s.st.SessionUser(ctx, ck.Value); err == nil {
				c.Set(userKey, u)
				return next(c)
			}
		}
		if public(c.Path()) {
			return next(c)
		}
		required, err := s.signInRequired(c)
		if err != nil {
			return err
		}
		if !required {
			return next(c)
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="ganstudio"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "sign in first: send Authorization: Bearer TOKEN (make one on your account page, or with ganstudio token add --user NAME)")
		}
		to := "/signin?next=" + url.QueryEscape(r.URL.RequestURI())
		if r.Header.Get("HX-Request") != "" {
			c.Response().Header().Set("HX-Redirect", to)
			return c.NoContent(http.StatusUnauthorized)
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return c.Redirect(http.StatusSeeOther, to)
		}
		return echo.NewHTTPError(http.StatusUnauthorized, "your session has ended: sign in again, then repeat what you did")
	}
}

// signInRequired: a studio reachable from other machines always asks for
// sign-in; one on the loopback address asks once any account exists.
func (s *Server) signInRequired(c echo.Context) (bool, error) {
	if s.opts.RequireSignIn {
		return true, nil
	}
	return s.st.HasUsers(c.Request().Context())
}

// safeNext keeps a redirect after sign-in on this studio: a path of its
// own, never "//host" (browsers also drop tabs and newlines and read "\"
// as "/", so "/\t/host" is refused too).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	return next
}

// secure reports whether the browser reached the studio over TLS: its own
// (--tls-cert) or a trusted proxy's (X-Forwarded-Proto from an address in
// --trusted-proxy; from anyone else the header is ignored).
func (s *Server) secure(c echo.Context) bool {
	r := c.Request()
	return r.TLS != nil || (s.fromTrustedProxy(r) && r.Header.Get("X-Forwarded-Proto") == "https")
}

func (s *Server) setSession(c echo.Context, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secure(c)})
}

func (s *Server) audit(c echo.Context, action, detail string) {
	name := ""
	if u := user(c); u != nil {
		name = u.Name
	}
	if err := s.st.Audit(c.Request().Context(), name, action, detail, c.RealIP()); err != nil {
		s.log.Warn("audit trail", "action", action, "err", err)
	}
}

func (s *Server) signInPage(c echo.Context) error {
	if user(c) != nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	return s.renderSignIn(c, http.StatusOK, c.QueryParam("next"), "", "")
}

func (s *Server) renderSignIn(c echo.Context, code int, next, name, msg string) error {
	has, err := s.st.HasUsers(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, code, web.SignInPage(s.page(c, "Sign in"), safeNext(next), name, msg, !has))
}

func (s *Server) signIn(c echo.Context) error {
	ctx := c.Request().Context()
	name, pw, next := strings.TrimSpace(c.FormValue("name")), c.FormValue("password"), c.FormValue("next")
	keys := []string{"user:" + name, "addr:" + c.RealIP()}
	wait, err := s.st.SignInBlocked(ctx, keys...)
	if err != nil {
		return err
	}
	if wait > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		s.audit(c, "sign-in refused", fmt.Sprintf("%s: too many failed tries", name))
		return s.renderSignIn(c, http.StatusTooManyRequests, next, name,
			fmt.Sprintf("Too many failed tries: wait %s before trying again.", wait))
	}
	u, err := s.st.CheckSignIn(ctx, name, pw)
	if errors.Is(err, store.ErrSignIn) {
		if err := s.st.SignInFailed(ctx, keys...); err != nil {
			return err
		}
		s.audit(c, "sign-in failed", name)
		return s.renderSignIn(c, http.StatusUnauthorized, next, name, "Wrong name or password.")
	}
	if err != nil {
		return err
	}
	s.st.SignInCleared(ctx, keys[0])
	// A session the browser brought is ended, never reused: the id after
	// sign-in is always new.
	if ck, err := c.Cookie(sessionCookie); err == nil {
		s.st.EndSession(ctx, ck.Value)
	}
	id, err := s.st.NewSession(ctx, u.ID, c.RealIP())
	if err != nil {
		return err
	}
	s.setSession(c, id, int(store.SessionMax/time.Second))
	c.Set(userKey, u)
	s.audit(c, "signed in", "")
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

func (s *Server) signOut(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil {
		s.st.EndSession(c.Request().Context(), ck.Value)
	}
	s.audit(c, "signed out", "")
	s.setSession(c, "", -1)
	return c.Redirect(http.StatusSeeOther, "/signin")
}

// signedIn is the user of a page that needs an account (404 without one,
// as on a studio with no accounts).
func signedIn(c echo.Context) (*store.User, error) {
	u := user(c)
	if u == nil {
		return nil, echo.NewHTTPError(http.StatusNotFound, "this studio has no accounts; make the first with: ganstudio user add --admin NAME")
	}
	return u, nil
}

func (s *Server) accountPage(c echo.Context) error { return s.renderAccount(c, http.StatusOK, "", "") }

func (s *Server) renderAccount(c echo.Context, code int, newToken, msg string) error {
	u, err := signedIn(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	n, err := s.st.SessionCount(ctx, u.ID)
	if err != nil {
		return err
	}
	toks, err := s.st.Tokens(ctx, u.ID)
	if err != nil {
		return err
	}
	rows := make([]web.TokenRow, len(toks))
	for i, t := range toks {
		rows[i] = web.TokenRow{ID: t.ID, Name: t.Name, Created: t.Created, Used: t.Used}
	}
	return s.render(c, code, web.AccountPage(s.page(c, "Account"), n, rows, newToken, msg))
}

func (s *Server) changePassword(c echo.Context) error {
	u, err := signedIn(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.st.CheckSignIn(ctx, u.Name, c.FormValue("current")); err != nil {
		return s.renderAccount(c, http.StatusUnprocessableEntity, "", "The current password is not right; nothing changed.")
	}
	if msg := store.CheckPassword(c.FormValue("password")); msg != "" {
		return s.renderAccount(c, http.StatusUnprocessableEntity, "", "New password: "+msg+".")
	}
	keep := ""
	if ck, err := c.Cookie(sessionCookie); err == nil {
		keep = ck.Value
	}
	if err := s.st.SetPassword(ctx, u.ID, c.FormValue("password"), keep); err != nil {
		return err
	}
	s.audit(c, "changed password", "other sessions ended")
	return s.renderAccount(c, http.StatusOK, "", "Password changed; every other session is signed out.")
}

func (s *Server) signOutEverywhere(c echo.Context) error {
	u, err := signedIn(c)
	if err != nil {
		return err
	}
	n, err := s.st.EndSessions(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	s.audit(c, "signed out everywhere", fmt.Sprintf("%d sessions", n))
	s.setSession(c, "", -1)
	return c.Redirect(http.StatusSeeOther, "/signin")
}

func (s *Server) addToken(c echo.Context) error {
	u, err := signedIn(c)
	if err != nil {
		return err
	}
	secret, err := s.st.AddToken(c.Request().Context(), u.ID, c.FormValue("name"))
	if err != nil {
		return s.renderAccount(c, http.StatusUnprocessableEntity, "", err.Error()+".")
	}
	s.audit(c, "made an API token", strings.TrimSpace(c.FormValue("name")))
	return s.renderAccount(c, http.StatusCreated, secret, "")
}

func (s *Server) revokeToken(c echo.Context) error {
	u, err := signedIn(c)
	if err != nil {
		return err
	}
	tid, err := id(c, "id")
	if err != nil {
		return err
	}
	if err := s.st.RevokeToken(c.Request().Context(), u.ID, tid); err != nil {
		return err
	}
	s.audit(c, "revoked an API token", fmt.Sprint(tid))
	return c.Redirect(http.StatusSeeOther, "/account")
}

// admin is the signed-in admin (404 for anyone else: the page's existence
// is not theirs to learn).
func admin(c echo.Context) (*store.User, error) {
	u := user(c)
	if u == nil || !u.Admin {
		return nil, echo.NewHTTPError(http.StatusNotFound, "no such page")
	}
	return u, nil
}

func (s *Server) adminPage(c echo.Context) error { return s.renderAdmin(c, http.StatusOK, "") }

func (s *Server) renderAdmin(c echo.Context, code int, msg string) error {
	if _, err := admin(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	us, err := s.st.Users(ctx)
	if err != nil {
		return err
	}
	trail, err := s.st.AuditTrail(ctx, 200)
	if err != nil {
		return err
	}
	urows := make([]web.UserRow, len(us))
	for i, u := range us {
		urows[i] = web.UserRow{ID: u.ID, Name: u.Name, Admin: u.Admin, Disabled: u.Disabled, Created: u.Created}
	}
	arows := make([]web.AuditRow, len(trail))
	for i, a := range trail {
		arows[i] = web.AuditRow{User: a.User, Action: a.Action, Detail: a.Detail, Address: a.Address, At: a.At}
	}
	return s.render(c, code, web.AdminPage(s.page(c, "People"), urows, arows, msg))
}

func (s *Server) adminAddUser(c echo.Context) error {
	if _, err := admin(c); err != nil {
		return err
	}
	name := strings.TrimSpace(c.FormValue("name"))
	_, err := s.st.AddUser(c.Request().Context(), name, c.FormValue("password"), c.FormValue("admin") == "1")
	if err != nil {
		return s.renderAdmin(c, http.StatusUnprocessableEntity, err.Error()+".")
	}
	s.audit(c, "added an account", name)
	return c.Redirect(http.StatusSeeOther, "/admin")
}

// adminUser disables, enables or removes an account (never one's own: an
// admin cannot lock the studio's last door behind them by a click).
func (s *Server) adminUser(c echo.Context) error {
	me, err := admin(c)
	if err != nil {
		return err
	}
	uid, err := id(c, "id")
	if err != nil {
		return err
	}
	if uid == me.ID {
		return s.renderAdmin(c, http.StatusUnprocessableEntity, "You cannot disable or remove your own account.")
	}
	ctx := c.Request().Context()
	action := c.Param("action")
	switch action {
	case "disable", "enable":
		err = s.st.SetDisabled(ctx, uid, action == "disable")
	case "remove":
		err = s.st.RemoveUser(ctx, uid)
	default:
		return echo.NewHTTPError(http.StatusNotFound, "no such action")
	}
	if err != nil {
		return err
	}
	s.audit(c, action+"d an account", fmt.Sprint(uid))
	return c.Redirect(http.StatusSeeOther, "/admin")
}

// createRun, deleteRun and deleteDataset are the store's and the queue's,
// with a line in the audit trail: the pages and the API both go through
// them.
func (s *Server) createRun(c echo.Context, r *store.Run) error {
	if err := s.q.CreateRun(c.Request().Context(), r); err != nil {
		return err
	}
	s.audit(c, "started a run", fmt.Sprintf("%d on dataset %d, %d steps", r.ID, r.DatasetID, r.Steps))
	return nil
}

func (s *Server) deleteRun(c echo.Context, id int64) error {
	if err := s.st.DeleteRun(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "deleted a run", fmt.Sprint(id))
	return nil
}

func (s *Server) deleteDataset(c echo.Context, id int64) error {
	if err := s.st.DeleteDataset(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "deleted a dataset", fmt.Sprint(id))
	return nil
}
