-- The process writing a dataset's sheet: a starting studio removes an
-- unfinished dataset at once when that process is known to have ended.
ALTER TABLE datasets ADD COLUMN owner TEXT NOT NULL DEFAULT '';
