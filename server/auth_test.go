package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/store"
)

// browser is one person's browser: its own cookies, and the CSRF token of
// the last page it loaded.
type browser struct {
	t    *testing.T
	s    *studio
	c    *http.Client
	csrf string
	xff  string // X-Forwarded-For it comes through (tests with a trusted proxy)
}

func (s *studio) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// send makes a request and returns the status, the Location and the body.
func (b *browser) send(req *http.Request) (int, string, string) {
	b.t.Helper()
	if b.xff != "" {
		req.Header.Set("X-Forwarded-For", b.xff)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func (b *browser) get(path string) (int, string, string) {
	req, _ := http.NewRequest("GET", b.s.srv.URL+path, nil)
	return b.send(req)
}

func (b *browser) post(path string, form url.Values) (int, string, string) {
	if b.csrf == "" {
		b.get("/signin") // a page, for the CSRF cookie and token
	}
	form.Set("_csrf", b.csrf)
	req, _ := http.NewRequest("POST", b.s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.send(req)
}

func (b *browser) signIn(name, pw string) int {
	code, _, _ := b.post("/signin", url.Values{"name": {name}, "password": {pw}, "next": {"/"}})
	return code
}

func (b *browser) session() *http.Cookie {
	u, _ := url.Parse(b.s.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

const annPassword = "correct horse battery"

func addUser(t *testing.T, st *store.Store, name string, admin bool) *store.User {
	t.Helper()
	u, err := st.AddUser(context.Background(), name, annPassword, admin)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSignInModes: a loopback studio with no accounts is open as before;
// one reachable from other machines, or with any account, lets nobody past
// the sign-in page and its assets without a session or a token.
func TestSignInModes(t *testing.T) {
	open := newStudio(t, false, DefaultOptions())
	b := open.browser()
	if code, _, _ := b.get("/"); code != 200 {
		t.Errorf("open studio: dashboard %d", code)
	}
	if code := open.do("GET", "/api/runs", "", nil, nil); code != 200 {
		t.Errorf("open studio: API %d", code)
	}

	opts := DefaultOptions()
	opts.RequireSignIn = true
	closed := newStudio(t, false, opts)
	b = closed.browser()
	if code, to, _ := b.get("/runs/new?x=1"); code != http.StatusSeeOther || to != "/signin?next=%2Fruns%2Fnew%3Fx%3D1" {
		t.Errorf("a page without a session: %d to %q, want 303 to the sign-in page", code, to)
	}
	if code, _, page := b.get("/signin"); code != 200 || !strings.Contains(page, "ganstudio user add --admin NAME") {
		t.Errorf("sign-in page with no accounts: %d, without the way to make the first", code)
	}
	if code, _, _ := b.get("/assets/css/app.css"); code != 200 {
		t.Errorf("assets: %d", code)
	}
	req, _ := http.NewRequest("GET", closed.srv.URL+"/api/runs", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("API without a token: %d %q, want 401 with WWW-Authenticate", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if code, _, _ := b.post("/runs", url.Values{"dataset_id": {"1"}}); code != 401 {
		t.Errorf("a form without a session: %d, want 401", code)
	}

	// Loopback, but an account exists: closed too.
	addUser(t, open.st, "ann", false)
	if code, _, _ := open.browser().get("/"); code != http.StatusSeeOther {
		t.Errorf("loopback studio with an account: %d, want 303 to sign in", code)
	}
	if runs, _ := closed.st.Runs(context.Background()); len(runs) != 0 {
		t.Errorf("refused requests made %d runs", len(runs))
	}
}

// TestSessions: sign-in makes a new session (never the id the browser
// brought), cookies are HttpOnly and SameSite=Lax, the database keeps only
// hashes; sessions expire, end at sign-out, everywhere at once, at a
// password change (but the changer's) and when the account is disabled.
func TestSessions(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	ctx := context.Background()
	ann := addUser(t, s.st, "ann", false)
	a := s.browser()
	a.get("/signin")
	u, _ := url.Parse(s.srv.URL)
	a.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "planted-by-an-attacker", Path: "/"}})
	if code := a.signIn("ann", "wrong password!"); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	if code := a.signIn("ann", annPassword); code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", code)
	}
	ck := a.session()
	if ck == nil || ck.Value == "planted-by-an-attacker" {
		t.Fatalf("session after sign-in: %+v, want a new id", ck)
	}
	req, _ := http.NewRequest("POST", s.srv.URL+"/signin", strings.NewReader(url.Values{"name": {"ann"}, "password": {annPassword}, "_csrf": {a.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var set string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, sessionCookie+"=") {
			set = h
		}
	}
	if !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Lax") || strings.Contains(set, "Secure") {
		t.Errorf("session cookie %q: want HttpOnly, SameSite=Lax, and not Secure over plain HTTP", set)
	}
	ck = a.session()
	var stored string
	s.st.DB.QueryRow(`SELECT id FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1`, ann.ID).Scan(&stored)
	if sum := sha256.Sum256([]byte(ck.Value)); stored != hex.EncodeToString(sum[:]) {
		t.Errorf("the database keeps %q for session %q, want its SHA-256 only", stored, ck.Value)
	}
	if code, _, page := a.get("/"); code != 200 || !strings.Contains(page, `id="account"`) {
		t.Errorf("signed in: dashboard %d, without the account link", code)
	}

	// A form still needs its CSRF token, signed in or not.
	req, _ = http.NewRequest("POST", s.srv.URL+"/signout", nil)
	if code, _, _ := a.send(req); code != 403 {
		t.Errorf("sign-out without a CSRF token: %d, want 403", code)
	}

	// Sign out everywhere ends the other browser's session.
	b := s.browser()
	b.signIn("ann", annPassword)
	// Signing in again in the same browser replaced its session.
	if n, _ := s.st.SessionCount(ctx, ann.ID); n != 2 {
		t.Errorf("%d sessions, want 2 (one per browser)", n)
	}
	if code, _, _ := a.post("/account/signout-all", url.Values{}); code != http.StatusSeeOther {
		t.Errorf("sign out everywhere: %d", code)
	}
	for name, br := range map[string]*browser{"this": a, "the other": b} {
		if code, _, _ := br.get("/"); code != http.StatusSeeOther {
			t.Errorf("%s browser after sign-out everywhere: %d, want 303", name, code)
		}
	}

	// Expiry: at the latest SessionMax after sign-in, or SessionIdle unused.
	for _, q := range []string{`UPDATE sessions SET expires_at = 1`, `UPDATE sessions SET seen_at = 1`} {
		a.signIn("ann", annPassword)
		s.st.DB.Exec(q)
		if code, _, _ := a.get("/"); code != http.StatusSeeOther {
			t.Errorf("after %s: %d, want 303", q, code)
		}
	}

	// A password change keeps the changer's session and ends the others.
	a.signIn("ann", annPassword)
	b.signIn("ann", annPassword)
	if code, _, page := a.post("/account/password", url.Values{"current": {"nope"}, "password": {"a new long password"}}); code != 422 || !strings.Contains(page, "not right") {
		t.Errorf("password change with a wrong current one: %d", code)
	}
	if code, _, _ := a.post("/account/password", url.Values{"current": {annPassword}, "password": {"a new long password"}}); code != 200 {
		t.Errorf("password change: %d", code)
	}
	if code, _, _ := a.get("/"); code != 200 {
		t.Errorf("the changer's session after the change: %d, want 200", code)
	}
	if code, _, _ := b.get("/"); code != http.StatusSeeOther {
		t.Errorf("another session after the change: %d, want 303", code)
	}
	if _, err := s.st.CheckSignIn(ctx, "ann", annPassword); err == nil {
		t.Errorf("the old password still signs in")
	}

	// Sign-out ends this session only; disabling ends them all.
	b.signIn("ann", "a new long password")
	if code, _, _ := b.post("/signout", url.Values{}); code != http.StatusSeeOther {
		t.Errorf("sign out: %d", code)
	}
	if code, _, _ := b.get("/"); code != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", code)
	}
	s.st.SetDisabled(ctx, ann.ID, true)
	if code, _, _ := a.get("/"); code != http.StatusSeeOther {
		t.Errorf("a disabled account's session: %d, want 303", code)
	}
	if code := a.signIn("ann", "a new long password"); code != 401 {
		t.Errorf("a disabled account signs in: %d", code)
	}
}

// TestSignInRateLimits: five failures in the window block an account from
// any address, and an address for any account, with 429 and Retry-After.
func TestSignInRateLimits(t *testing.T) {
	opts := DefaultOptions()
	_, lo, _ := net.ParseCIDR("127.0.0.0/8")
	opts.TrustedProxies = []*net.IPNet{lo} // so each browser can come from its own address
	s := newStudio(t, false, opts)
	addUser(t, s.st, "ann", false)
	addUser(t, s.st, "bob", false)
	from := func(addr string) *browser { b := s.browser(); b.xff = addr; return b }
	for i := range store.SignInFailures {
		if code := from("203.0.113."+string(rune('1'+i))).signIn("ann", "guess"); code != 401 {
			t.Fatalf("failure %d: %d", i+1, code)
		}
	}
	b := from("203.0.113.200")
	b.get("/signin")
	req, _ := http.NewRequest("POST", s.srv.URL+"/signin", strings.NewReader(url.Values{"name": {"ann"}, "password": {annPassword}, "_csrf": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", b.xff)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("ann's right password after 5 failures from elsewhere: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code := from("198.51.100.7").signIn("bob", annPassword); code != http.StatusSeeOther {
		t.Errorf("bob, from another address: %d, want signed in", code)
	}
	// One address guessing many names.
	for i := range store.SignInFailures {
		from("198.51.100.9").signIn("nobody"+string(rune('a'+i)), "guess")
	}
	if code := from("198.51.100.9").signIn("bob", annPassword); code != 429 {
		t.Errorf("bob from an address that failed 5 times: %d, want 429", code)
	}
	// Without a trusted proxy, X-Forwarded-For is not believed.
	plain := newStudio(t, false, DefaultOptions())
	addUser(t, plain.st, "ann", false)
	for i := range store.SignInFailures {
		b := plain.browser()
		b.xff = "203.0.113." + string(rune('1'+i))
		b.signIn("cy"+string(rune('a'+i)), "guess")
	}
	if code := plain.browser().signIn("ann", annPassword); code != 429 {
		t.Errorf("spoofed X-Forwarded-For escaped the address limit: %d", code)
	}
}

// TestTokens: the API takes a person's token; a wrong, revoked or disabled
// one gets 401; the account page shows a new token once and lists it.
func TestTokens(t *testing.T) {
	opts := DefaultOptions()
	opts.RequireSignIn = true
	s := newStudio(t, false, opts)
	ctx := context.Background()
	ann := addUser(t, s.st, "ann", false)
	secret, err := s.st.AddToken(ctx, ann.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	api := func(token string) int {
		req, _ := http.NewRequest("GET", s.srv.URL+"/api/runs", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return s.doReq(req, nil)
	}
	if code := api(secret); code != 200 {
		t.Errorf("with the token: %d", code)
	}
	if code := api(secret + "x"); code != 401 {
		t.Errorf("with a wrong token: %d", code)
	}
	var stored string
	s.st.DB.QueryRow(`SELECT hash FROM tokens`).Scan(&stored)
	if strings.Contains(stored, secret[len(store.TokenPrefix):]) {
		t.Errorf("the database keeps the token itself")
	}
	b := s.browser()
	b.signIn("ann", annPassword)
	code, _, page := b.post("/account/tokens", url.Values{"name": {"nightly export"}})
	tok := regexp.MustCompile(`id="new-token">(gst_[A-Za-z0-9_-]+)<`).FindStringSubmatch(page)
	if code != 201 || tok == nil || !strings.Contains(page, "nightly export") {
		t.Fatalf("make a token on the account page: %d, token %v", code, tok)
	}
	if c := api(tok[1]); c != 200 {
		t.Errorf("the page's token: %d", c)
	}
	if _, _, again := b.get("/account"); strings.Contains(again, tok[1]) {
		t.Errorf("the token is shown again after it was made")
	}
	toks, _ := s.st.Tokens(ctx, ann.ID)
	for _, tk := range toks {
		if tk.Name == "nightly export" {
			b.post("/account/tokens/"+itoa(tk.ID)+"/revoke", url.Values{})
		}
	}
	if c := api(tok[1]); c != 401 {
		t.Errorf("a revoked token: %d, want 401", c)
	}
	s.st.SetDisabled(ctx, ann.ID, true)
	if c := api(secret); c != 401 {
		t.Errorf("a disabled account's token: %d, want 401", c)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPasswordsNeverKept: hashes are argon2id with a salt of their own,
// and no password reaches the log or the audit trail.
func TestPasswordsNeverKept(t *testing.T) {
	var logs bytes.Buffer
	opts := DefaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newStudio(t, false, opts)
	addUser(t, s.st, "ann", true)
	h1, h2 := store.HashPassword(annPassword), store.HashPassword(annPassword)
	if !strings.HasPrefix(h1, "$argon2id$v=19$") || h1 == h2 || strings.Contains(h1, annPassword) {
		t.Errorf("hashes %q and %q: want argon2id, salted apart, without the password", h1, h2)
	}
	b := s.browser()
	b.signIn("ann", "my wrong secret password")
	b.signIn("ann", annPassword)
	b.post("/admin/users", url.Values{"name": {"bob"}, "password": {"bobs own password 1"}})
	trail, _ := s.st.AuditTrail(context.Background(), 100)
	var all strings.Builder
	for _, e := range trail {
		all.WriteString(e.User + " " + e.Action + " " + e.Detail + "\n")
	}
	for _, pw := range []string{annPassword, "my wrong secret password", "bobs own password 1"} {
		if strings.Contains(logs.String(), pw) || strings.Contains(all.String(), pw) {
			t.Errorf("a password reached the log or the audit trail")
		}
	}
	for _, want := range []string{"sign-in failed", "ann signed in", "ann added an account bob"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("audit trail lacks %q:\n%s", want, all.String())
		}
	}
}

// TestAdminPage: only admins see it (404 for others); an admin adds,
// disables and removes people, never themselves, and sees the audit trail.
func TestAdminPage(t *testing.T) {
	s := newStudio(t, false, DefaultOptions())
	ctx := context.Background()
	addUser(t, s.st, "root", true)
	addUser(t, s.st, "ann", false)
	ann := s.browser()
	ann.signIn("ann", annPassword)
	if code, _, _ := ann.get("/admin"); code != 404 {
		t.Errorf("a member on the admin page: %d, want 404", code)
	}
	if code, _, _ := ann.post("/admin/users", url.Values{"name": {"eve"}, "password": {"eves password 12"}}); code != 404 {
		t.Errorf("a member adding an account: %d, want 404", code)
	}
	root := s.browser()
	root.signIn("root", annPassword)
	if code, _, _ := root.post("/admin/users", url.Values{"name": {"bob"}, "password": {"bobs password 12"}}); code != http.StatusSeeOther {
		t.Errorf("add bob: %d", code)
	}
	if code, _, page := root.post("/admin/users", url.Values{"name": {"bob"}, "password": {"bobs password 12"}}); code != 422 || !strings.Contains(page, "already exists") {
		t.Errorf("add bob twice: %d", code)
	}
	if code, _, _ := root.post("/admin/users", url.Values{"name": {"../x"}, "password": {"short"}}); code != 422 {
		t.Errorf("a bad name: %d", code)
	}
	me, _ := s.st.UserByName(ctx, "root")
	if code, _, _ := root.post("/admin/users/"+itoa(me.ID)+"/disable", url.Values{}); code != 422 {
		t.Errorf("disabling oneself: %d, want 422", code)
	}
	a, _ := s.st.UserByName(ctx, "ann")
	root.post("/admin/users/"+itoa(a.ID)+"/disable", url.Values{})
	if code, _, _ := ann.get("/"); code != http.StatusSeeOther {
		t.Errorf("ann after being disabled: %d", code)
	}
	root.post("/admin/users/"+itoa(a.ID)+"/remove", url.Values{})
	if _, err := s.st.UserByName(ctx, "ann"); err == nil {
		t.Errorf("ann is still there after removal")
	}
	if code, _, page := root.get("/admin"); code != 200 || !strings.Contains(page, "disabled an account") || !strings.Contains(page, "bob") {
		t.Errorf("admin page: %d, without the audit trail or bob", code)
	}
	_ = time.Second
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/runs/3?step=5": "/runs/3?step=5", "": "/", "https://evil.example/": "/", "//evil.example": "/",
		"/\\evil.example": "/", "/\t/evil.example": "/", "/\n/evil.example": "/", "/ok\\x": "/", "runs/3": "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}
