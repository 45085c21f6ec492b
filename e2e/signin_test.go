package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ganstudio/ganstudio/store"
)

// TestSignInInBrowser: once an account exists, a page opened in Chromium
// sends the browser to sign in and back to where it was; the nav then
// names the person; the account page makes a token, shown once; sign-out
// closes the studio again. GANSTUDIO_E2E_SHOTS=DIR keeps screenshots.
func TestSignInInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("GANSTUDIO_E2E") == "1" {
			t.Fatalf("GANSTUDIO_E2E=1 but there is no browser: %v", err)
		}
		t.Skipf("no %s", chromiumPath)
	}
	base := startStudio(t, func(st *store.Store) {
		if _, err := st.AddUser(context.Background(), "ann", "correct horse battery", true); err != nil {
			t.Fatal(err)
		}
	})
	b := newBrowser(t)
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	shot := func(name string) {
		if dir := os.Getenv("GANSTUDIO_E2E_SHOTS"); dir != "" {
			if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90)); err == nil {
				os.WriteFile(filepath.Join(dir, name), png, 0o644)
			}
		}
	}
	do(t, ctx, "open a page", chromedp.Navigate(base+"/runs/new"))
	waitPath(t, ctx, "the sign-in page", regexp.MustCompile(`^/signin\?next=(%2Fruns%2Fnew)$`))
	do(t, ctx, "sign in with a wrong password",
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "ann"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "wrong password"),
		chromedp.Submit(chromedp.CSS(`form[action="/signin"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.error`)),
	)
	if msg := get(t, ctx, "read the error", chromedp.Text(chromedp.CSS(`p.error`))); !strings.Contains(msg, "Wrong name or password") {
		t.Errorf("after a wrong password the page says %q", msg)
	}
	shot("signin-wrong.png")
	do(t, ctx, "sign in (the page kept the name, not the password)",
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "correct horse battery"),
		chromedp.Submit(chromedp.CSS(`form[action="/signin"]`)),
	)
	waitPath(t, ctx, "back at the new-run page", regexp.MustCompile(`^(/runs/new)$`))
	if who := get(t, ctx, "read the nav", chromedp.Text(chromedp.CSS(`#account`))); who != "ann" {
		t.Errorf("the nav names %q, want ann", who)
	}
	do(t, ctx, "make a token",
		chromedp.Navigate(base+"/account"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/account/tokens"] input[name=name]`), "notebook"),
		chromedp.Submit(chromedp.CSS(`form[action="/account/tokens"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-token`)),
	)
	if token := get(t, ctx, "read the token", chromedp.Text(chromedp.CSS(`#new-token`))); !strings.HasPrefix(token, store.TokenPrefix) {
		t.Errorf("the account page shows token %q", token)
	}
	shot("account.png")
	do(t, ctx, "open the People page", chromedp.Navigate(base+"/admin"), chromedp.WaitVisible(chromedp.CSS(`#audit`)))
	trail := get(t, ctx, "read the audit trail", chromedp.Text(chromedp.CSS(`#audit`)))
	for _, want := range []string{"sign-in failed", "signed in", "made an API token"} {
		if !strings.Contains(trail, want) {
			t.Errorf("the audit trail lacks %q", want)
		}
	}
	shot("admin.png")
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)))
	waitPath(t, ctx, "the sign-in page after signing out", regexp.MustCompile(`^(/signin)$`))
	do(t, ctx, "open the dashboard", chromedp.Navigate(base+"/"))
	waitPath(t, ctx, "the sign-in page for the dashboard", regexp.MustCompile(`^/signin\?next=(%2F)$`))
	if ex := b.exceptions(); len(ex) > 0 {
		t.Errorf("the pages threw %d uncaught exceptions:\n%s", len(ex), strings.Join(ex, "\n"))
	}
}
