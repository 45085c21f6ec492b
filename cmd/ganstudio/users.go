package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/ganstudio/ganstudio/store"
)

// readPassword reads a new password: at a terminal it asks twice without
// echo; otherwise (a script) it reads the first line of standard input.
// Never from a flag, which other users of the machine could read.
func readPassword(in *os.File, prompt io.Writer) (string, error) {
	if !term.IsTerminal(int(in.Fd())) {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", fmt.Errorf("no password on standard input")
		}
		return pw, nil
	}
	ask := func(what string) (string, error) {
		fmt.Fprint(prompt, what)
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(prompt)
		return string(b), err
	}
	pw, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	again, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", fmt.Errorf("the two passwords differ")
	}
	return pw, nil
}

// userCmd manages accounts from the machine the studio runs on: the first
// admin is made here, before anyone can sign in.
//
//	ganstudio user add [--admin] NAME   (password from the terminal, or standard input)
//	ganstudio user disable|enable|remove NAME
//	ganstudio user list
func userCmd(ctx context.Context, args []string, stdin *os.File, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: ganstudio user add|list|disable|enable|remove", errUsage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	studio := addStudioFlags(fs, "the studio's data folder")
	isAdmin := fs.Bool("admin", false, "with add: the account manages people (the admin page)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	st, err := store.OpenConfig(ctx, studio.config())
	if err != nil {
		return err
	}
	defer st.Close()
	if verb == "list" {
		us, err := st.Users(ctx)
		if err != nil {
			return err
		}
		for _, u := range us {
			role := "member"
			if u.Admin {
				role = "admin"
			}
			if u.Disabled {
				role += ", disabled"
			}
			fmt.Fprintf(out, "%s\t%s\t%s\n", u.Name, role, u.Created.Format("2006-01-02"))
		}
		return nil
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: ganstudio user %s NAME", errUsage, verb)
	}
	name := fs.Arg(0)
	if verb == "add" {
		if msg := store.CheckUserName(name); msg != "" {
			return fmt.Errorf("user name %q: %s", name, msg)
		}
		pw, err := readPassword(stdin, os.Stderr)
		if err != nil {
			return err
		}
		if _, err := st.AddUser(ctx, name, pw, *isAdmin); err != nil {
			return err
		}
		st.Audit(ctx, "", "added an account", name+" (command line)", "")
		fmt.Fprintf(out, "added %s; sign in at the studio's /signin\n", name)
		return nil
	}
	u, err := st.UserByName(ctx, name)
	if err != nil {
		return err
	}
	switch verb {
	case "disable", "enable":
		err = st.SetDisabled(ctx, u.ID, verb == "disable")
	case "remove":
		err = st.RemoveUser(ctx, u.ID)
	default:
		return fmt.Errorf("%w: unknown user command %q", errUsage, verb)
	}
	if err != nil {
		return err
	}
	st.Audit(ctx, "", verb+"d an account", name+" (command line)", "")
	fmt.Fprintf(out, "%sd %s\n", verb, name)
	return nil
}

// tokenCmd makes an API token for a person and prints it (once).
//
//	ganstudio token add --user NAME [--name LABEL]
func tokenCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("%w: ganstudio token add --user NAME [--name LABEL]", errUsage)
	}
	fs := flag.NewFlagSet("token add", flag.ContinueOnError)
	studio := addStudioFlags(fs, "the studio's data folder")
	who := fs.String("user", "", "the account the token acts as")
	label := fs.String("name", "command line", "what the token is for, as its account page lists it")
	if err := fs.Parse(args[1:]); err != nil || *who == "" {
		return fmt.Errorf("%w: ganstudio token add --user NAME [--name LABEL]", errUsage)
	}
	st, err := store.OpenConfig(ctx, studio.config())
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByName(ctx, *who)
	if err != nil {
		return err
	}
	secret, err := st.AddToken(ctx, u.ID, *label)
	if err != nil {
		return err
	}
	st.Audit(ctx, u.Name, "made an API token", *label+" (command line)", "")
	fmt.Fprintln(out, secret)
	return nil
}
