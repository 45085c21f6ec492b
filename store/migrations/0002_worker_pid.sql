-- The worker's process id, so a worker restarted on the same machine can
-- tell at once that an older worker there is gone.
ALTER TABLE workers ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
