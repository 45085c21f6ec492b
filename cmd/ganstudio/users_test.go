package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/store"
)

// stdinWith is a pipe (not a terminal) holding text, as a script's
// standard input.
func stdinWith(t *testing.T, text string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(text)
	w.Close()
	t.Cleanup(func() { r.Close() })
	return r
}

// TestUserAndTokenCommands: the first admin is made on the command line
// with the password on standard input (never a flag), and a token printed
// for them signs the API in.
func TestUserAndTokenCommands(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	var out bytes.Buffer
	if err := userCmd(ctx, []string{"add", "--admin", "--data", data, "ann"}, stdinWith(t, "a long password here\n"), &out); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"add", "--data", data, "ann"}, "another password 1\n", "already exists"},
		{[]string{"add", "--data", data, "bob"}, "", "no password"},
		{[]string{"add", "--data", data, "bob"}, "short\n", "at least 10"},
		{[]string{"add", "--data", data, "Bad/Name"}, "a long password here\n", "lower-case"},
		{[]string{"add", "--data", data, "--password", "x", "bob"}, "", "usage"},
		{[]string{"disable", "--data", data, "nobody"}, "", "not found"},
	} {
		err := userCmd(ctx, c.args, stdinWith(t, c.stdin), &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("user %v: %v, want %q", c.args, err, c.want)
		}
	}
	out.Reset()
	if err := tokenCmd(ctx, []string{"add", "--data", data, "--user", "ann", "--name", "backup"}, &out); err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out.String())
	st, err := store.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.TokenUser(ctx, secret)
	if err != nil || u.Name != "ann" || !u.Admin {
		t.Fatalf("the printed token %q is %+v, %v; want ann, an admin", secret, u, err)
	}
	if _, err := st.CheckSignIn(ctx, "ann", "a long password here"); err != nil {
		t.Errorf("the password from standard input does not sign in: %v", err)
	}
	out.Reset()
	if err := userCmd(ctx, []string{"disable", "--data", data, "ann"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TokenUser(ctx, secret); err == nil {
		t.Errorf("a disabled account's token still works")
	}
}
