package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// User is a person with an account.
type User struct {
	ID       int64
	Name     string
	Admin    bool
	Disabled bool
	Created  time.Time
}

// ErrSignIn is a name and password that do not sign anyone in (which of
// the two was wrong is not said).
var ErrSignIn = errors.New("wrong name or password")

// ErrExists is a name already taken.
var ErrExists = errors.New("already exists")

var userNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,39}$`)

// CheckUserName says what is wrong with a user name ("" when nothing).
func CheckUserName(name string) string {
	if !userNameRE.MatchString(name) {
		return "1 to 40 lower-case letters, digits, dots, dashes or underscores, starting with a letter or digit"
	}
	return ""
}

// CheckPassword says what is wrong with a new password ("" when nothing).
func CheckPassword(pw string) string {
	switch {
	case len(pw) < 10:
		return "at least 10 characters"
	case len(pw) > 1024:
		return "at most 1024 characters"
	}
	return ""
}

// argon2id parameters: OWASP's minimum (19 MiB, two passes, one lane),
// about 30 ms a check here. They are kept in each hash, so a later build
// may raise them and old hashes still verify.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword makes an argon2id hash in the PHC string format.
func HashPassword(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword compares pw with a hash from HashPassword, in constant time.
func checkPassword(pw, hash string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<22 || t > 16 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when a name is unknown, so that a wrong
// name takes as long as a wrong password.
var dummyHash = HashPassword("not anybody's password")

const userCols = `id, name, admin, disabled, created_at`

// joinedUserCols are userCols of a users table joined as u.
const joinedUserCols = `u.id, u.name, u.admin, u.disabled, u.created_at`

// scanUser reads userCols, then any further columns into extra.
func scanUser(sc interface{ Scan(...any) error }, extra ...any) (*User, error) {
	var u User
	var admin, disabled int
	var c int64
	if err := sc.Scan(append([]any{&u.ID, &u.Name, &admin, &disabled, &c}, extra...)...); err != nil {
		return nil, err
	}
	u.Admin, u.Disabled, u.Created = admin == 1, disabled == 1, Time(c)
	return &u, nil
}

// AddUser makes an account.
func (s *Store) AddUser(ctx context.Context, name, password string, admin bool) (*User, error) {
	if msg := CheckUserName(name); msg != "" {
		return nil, fmt.Errorf("user name %q: %s", name, msg)
	}
	if msg := CheckPassword(password); msg != "" {
		return nil, fmt.Errorf("password: %s", msg)
	}
	u := &User{Name: name, Admin: admin, Created: time.Now()}
	err := s.DB.QueryRowContext(ctx, `INSERT INTO users (name, hash, admin, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO NOTHING RETURNING id`, name, HashPassword(password), flag(admin), now()).Scan(&u.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %s: %w", name, ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("add user %s: %w", name, err)
	}
	return u, nil
}

// Users lists the accounts by name.
func (s *Store) Users(ctx context.Context) ([]*User, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UserByName returns one account.
func (s *Store) UserByName(ctx context.Context, name string) (*User, error) {
	u, err := scanUser(s.DB.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = $1`, name))
	if err != nil {
		return nil, notFound("user", name, err)
	}
	return u, nil
}

// HasUsers reports whether any account exists.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) AS one`).Scan(&n)
	return n > 0, err
}

// CheckSignIn returns the enabled user whose name and password these are,
// or ErrSignIn.
func (s *Store) CheckSignIn(ctx context.Context, name, password string) (*User, error) {
	var hash string
	var disabled int
	var id int64
	err := s.DB.QueryRowContext(ctx, `SELECT id, hash, disabled FROM users WHERE name = $1`, name).Scan(&id, &hash, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		checkPassword(password, dummyHash)
		return nil, ErrSignIn
	}
	if err != nil {
		return nil, err
	}
	if !checkPassword(password, hash) || disabled == 1 {
		return nil, ErrSignIn
	}
	return s.UserByName(ctx, name)
}

// SetPassword changes a user's password and ends every session of theirs
// but keep (a session id, or "").
func (s *Store) SetPassword(ctx context.Context, userID int64, password, keep string) error {
	if msg := CheckPassword(password); msg != "" {
		return fmt.Errorf("password: %s", msg)
	}
	return s.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET hash = $1 WHERE id = $2`, HashPassword(password), userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id != $2`, userID, secretHash(keep))
		return err
	})
}

// SetDisabled disables (or enables again) an account; disabling ends its
// sessions and its tokens stop working.
func (s *Store) SetDisabled(ctx context.Context, userID int64, disabled bool) error {
	return s.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled = $1 WHERE id = $2`, flag(disabled), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("user", userID, sql.ErrNoRows)
		}
		if disabled {
			_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
		}
		return err
	})
}

// RemoveUser deletes an account with its sessions and tokens.
func (s *Store) RemoveUser(ctx context.Context, userID int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("user", userID, sql.ErrNoRows)
	}
	return nil
}

// newSecret is a long random value for a cookie or a token.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secretHash is what is stored of a session id or a token.
func secretHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Session lengths: a session ends after SessionIdle without use, and at
// the latest SessionMax after sign-in.
const (
	SessionIdle = 7 * 24 * time.Hour
	SessionMax  = 30 * 24 * time.Hour
)

// NewSession signs a user in: a new random session id (never one the
// browser brought: no fixation), whose hash alone is stored.
func (s *Store) NewSession(ctx context.Context, userID int64, address string) (string, error) {
	id := newSecret()
	t := now()
	_, err := s.DB.ExecContext(ctx, `INSERT INTO sessions (id, user_id, address, created_at, seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $4, $5)`, secretHash(id), userID, address, t, t+SessionMax.Milliseconds())
	return id, err
}

// SessionUser returns the enabled user a live session belongs to, and
// notes the use (at most once a minute).
func (s *Store) SessionUser(ctx context.Context, id string) (*User, error) {
	if id == "" {
		return nil, ErrNotFound
	}
	t, h := now(), secretHash(id)
	var seen int64
	u, err := scanUser(s.DB.QueryRowContext(ctx, `SELECT `+joinedUserCols+`, s.seen_at FROM sessions s
		JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND s.expires_at > $2 AND s.seen_at > $3 AND u.disabled = 0`,
		h, t, t-SessionIdle.Milliseconds()), &seen)
	if err != nil {
		return nil, notFound("session", "", err)
	}
	s.noteUse(ctx, `UPDATE sessions SET seen_at = $1 WHERE id = $2`, h, seen)
	return u, nil
}

// noteUse runs update (SET the stamp to $1 WHERE the key is $2) when the
// stamp last is over a minute old: a write at every request would make
// every request wait for SQLite's one writer.
func (s *Store) noteUse(ctx context.Context, update, key string, last int64) {
	if t := now(); t-last > 60_000 {
		s.DB.ExecContext(ctx, update, t, key)
	}
}

// EndSession signs one session out.
func (s *Store) EndSession(ctx context.Context, id string) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, secretHash(id))
	return err
}

// EndSessions signs a user out everywhere, and says how many sessions ended.
func (s *Store) EndSessions(ctx context.Context, userID int64) (int, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// SessionCount is how many live sessions a user has.
func (s *Store) SessionCount(ctx context.Context, userID int64) (int, error) {
	var n int
	t := now()
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at > $2 AND seen_at > $3`,
		userID, t, t-SessionIdle.Milliseconds()).Scan(&n)
	return n, err
}

// Token is an API token, as listed (its secret is shown once, when made).
type Token struct {
	ID      int64
	Name    string
	Created time.Time
	Used    time.Time
}

// TokenPrefix starts every API token, so one pasted somewhere can be
// recognised (and secret scanners can find it).
const TokenPrefix = "gst_"

// AddToken makes an API token for a user and returns its secret.
func (s *Store) AddToken(ctx context.Context, userID int64, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", fmt.Errorf("token name: 1 to 100 characters")
	}
	secret := TokenPrefix + newSecret()
	_, err := s.DB.ExecContext(ctx, `INSERT INTO tokens (user_id, name, hash, created_at) VALUES ($1, $2, $3, $4)`,
		userID, name, secretHash(secret), now())
	return secret, err
}

// Tokens lists a user's tokens, newest first.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, name, created_at, used_at FROM tokens WHERE user_id = $1 ORDER BY id DESC`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var c, u int64
		if err := rows.Scan(&t.ID, &t.Name, &c, &u); err != nil {
			return nil, err
		}
		t.Created, t.Used = Time(c), Time(u)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken deletes one of a user's tokens.
func (s *Store) RevokeToken(ctx context.Context, userID, tokenID int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM tokens WHERE id = $1 AND user_id = $2`, tokenID, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("token", tokenID, sql.ErrNoRows)
	}
	return nil
}

// TokenUser returns the enabled user a token belongs to.
func (s *Store) TokenUser(ctx context.Context, secret string) (*User, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return nil, ErrNotFound
	}
	h := secretHash(secret)
	var used int64
	u, err := scanUser(s.DB.QueryRowContext(ctx, `SELECT `+joinedUserCols+`, t.used_at FROM tokens t
		JOIN users u ON u.id = t.user_id WHERE t.hash = $1 AND u.disabled = 0`, h), &used)
	if err != nil {
		return nil, notFound("token", "", err)
	}
	s.noteUse(ctx, `UPDATE tokens SET used_at = $1 WHERE hash = $2`, h, used)
	return u, nil
}

// Sign-in limits: at most SignInFailures failed tries in SignInWindow, for
// one account and for one address.
const (
	SignInFailures = 5
	SignInWindow   = 15 * time.Minute
)

// SignInBlocked says how long until keys (e.g. "user:ann", "addr:1.2.3.4")
// may try again (0: now). The counts are in the database, so they hold
// across every serve process of a studio.
func (s *Store) SignInBlocked(ctx context.Context, keys ...string) (time.Duration, error) {
	since := now() - SignInWindow.Milliseconds()
	var wait time.Duration
	for _, k := range keys {
		var n int
		var first int64
		err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MIN(at), 0) FROM signin_failures WHERE key = $1 AND at > $2`,
			k, since).Scan(&n, &first)
		if err != nil {
			return 0, err
		}
		if n >= SignInFailures {
			wait = max(wait, time.Until(Time(first).Add(SignInWindow)).Round(time.Second))
		}
	}
	return wait, nil
}

// SignInFailed records a failed try for each key (and forgets old ones).
func (s *Store) SignInFailed(ctx context.Context, keys ...string) error {
	t := now()
	for _, k := range keys {
		if _, err := s.DB.ExecContext(ctx, `INSERT INTO signin_failures (key, at) VALUES ($1, $2)`, k, t); err != nil {
			return err
		}
	}
	_, err := s.DB.ExecContext(ctx, `DELETE FROM signin_failures WHERE at < $1`, t-SignInWindow.Milliseconds())
	return err
}

// SignInCleared forgets a key's failures (a successful sign-in).
func (s *Store) SignInCleared(ctx context.Context, key string) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM signin_failures WHERE key = $1`, key)
	return err
}

// AuditEntry is one line of the audit trail.
type AuditEntry struct {
	ID      int64
	User    string // "" for someone not signed in
	Action  string
	Detail  string
	Address string
	At      time.Time
}

// Audit records who did what.
func (s *Store) Audit(ctx context.Context, user, action, detail, address string) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO audit (user_name, action, detail, address, created_at) VALUES ($1, $2, $3, $4, $5)`,
		user, action, detail, address, now())
	return err
}

// AuditTrail lists the newest entries first.
func (s *Store) AuditTrail(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, user_name, action, detail, address, created_at FROM audit ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &e.User, &e.Action, &e.Detail, &e.Address, &t); err != nil {
			return nil, err
		}
		e.At = Time(t)
		out = append(out, e)
	}
	return out, rows.Err()
}
