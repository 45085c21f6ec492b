-- Mode-collapse health per snapshot (issue 4), and the state of each run's
-- collapse guard (tries used, last healthy step).
ALTER TABLE snapshots ADD COLUMN health        TEXT NOT NULL DEFAULT '';  -- '' not judged; healthy, warning, collapsed
ALTER TABLE snapshots ADD COLUMN health_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN diversity     REAL NOT NULL DEFAULT -1;  -- -1 not measured
ALTER TABLE snapshots ADD COLUMN duplicates    REAL NOT NULL DEFAULT -1;
ALTER TABLE snapshots ADD COLUMN ndb           REAL NOT NULL DEFAULT -1;
ALTER TABLE snapshots ADD COLUMN precision     REAL NOT NULL DEFAULT -1;
ALTER TABLE snapshots ADD COLUMN d_fake_spread REAL NOT NULL DEFAULT -1;
ALTER TABLE runs ADD COLUMN guard TEXT NOT NULL DEFAULT '';                -- JSON of gan.Guard
