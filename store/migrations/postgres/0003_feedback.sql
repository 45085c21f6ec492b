-- Ratings as a training signal (issue 5): what training made of a run's
-- ratings (JSON of store.FeedbackStatus), and per snapshot the share of
-- new samples the rating model would like (-1: no model then).
ALTER TABLE runs ADD COLUMN feedback TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN liked_share DOUBLE PRECISION NOT NULL DEFAULT -1;
