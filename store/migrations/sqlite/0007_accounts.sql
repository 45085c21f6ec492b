-- Accounts (issue 18). A studio with no users works as before on a
-- loopback address; once one exists, everything but the sign-in page asks
-- for a session or a token. Secrets are kept only as hashes: passwords as
-- argon2id (PHC strings), session ids and API tokens as SHA-256 (they are
-- long random values, so a fast hash suffices), so a copy of the database
-- signs nobody in.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    hash       TEXT    NOT NULL,
    admin      INTEGER NOT NULL DEFAULT 0,
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0
);
-- Failed sign-ins, by "user:NAME" and by "addr:IP", for the rate limits.
CREATE TABLE signin_failures (
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX signin_failures_key ON signin_failures(key, at);
-- Who did what: sign-ins, accounts, tokens, uploads, runs, deletions.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name  TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    address    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
