-- Datasets: uploads (stored as an image sheet blob) and the built-in ones
-- (stored in the binary; builtin names which).
-- Ids are AUTOINCREMENT so that an id, once used, is never handed out
-- again: blob cleanup after a failed write can never touch a newer object.
-- A dataset is listed once ready: its blob is written outside any
-- transaction (encoding a large sheet takes a while), then it is marked ready.
CREATE TABLE datasets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    builtin    TEXT    NOT NULL DEFAULT '',
    res        INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    bytes      INTEGER NOT NULL DEFAULT 0,
    report     TEXT    NOT NULL DEFAULT '{}',
    ready      INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX datasets_builtin ON datasets(builtin) WHERE builtin != '';

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id  INTEGER NOT NULL REFERENCES datasets(id),
    config      TEXT    NOT NULL,
    steps       INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    control     TEXT    NOT NULL DEFAULT '',
    step        INTEGER NOT NULL DEFAULT 0,
    ckpt_step   INTEGER NOT NULL DEFAULT -1,
    job_id      INTEGER NOT NULL DEFAULT 0,
    worker_id   TEXT    NOT NULL DEFAULT '',
    device      TEXT    NOT NULL DEFAULT '',
    rate        REAL    NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    started_at  INTEGER NOT NULL DEFAULT 0,
    finished_at INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX runs_state ON runs(state);

CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    loss_d REAL NOT NULL,
    loss_g REAL NOT NULL,
    d_real REAL NOT NULL,
    d_fake REAL NOT NULL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;

CREATE TABLE snapshots (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step       INTEGER NOT NULL,
    swd        REAL    NOT NULL DEFAULT -1,
    swd_floor  REAL    NOT NULL DEFAULT -1,
    checkpoint INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;

CREATE TABLE samples (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step       INTEGER NOT NULL,
    origin     TEXT    NOT NULL,
    latent     BLOB    NOT NULL,
    rating     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX samples_run_step ON samples(run_id, step);

CREATE TABLE ratings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id  INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
    value      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX ratings_sample ON ratings(sample_id);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step       INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    message    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_run ON events(run_id, id);

-- proc names the process namespace a worker runs in (host, boot id, pid
-- namespace): two workers with the same proc can check each other's pid.
CREATE TABLE workers (
    id         TEXT PRIMARY KEY,
    host       TEXT    NOT NULL,
    device     TEXT    NOT NULL,
    proc       TEXT    NOT NULL DEFAULT '',
    pid        INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);
