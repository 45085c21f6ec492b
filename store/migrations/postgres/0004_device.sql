-- Runs for a GPU (issue 6): runs.device, which 0001 filled in when a worker
-- claimed the run, now names the device the run is queued for from the
-- start, and only a worker for that device claims it. Every run before
-- this trained (or waits to train) on the CPU. The column keeps 0001's
-- default (''; SQLite changes a default only by rebuilding the table, which
-- the tables that reference runs make costly): InsertRun always sets it.
UPDATE runs SET device = 'cpu' WHERE device = '';
