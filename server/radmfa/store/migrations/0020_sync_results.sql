-- The last directory sync that ran (scheduled or by hand, dry runs not
-- counted): when, by whom, and what it did, shown on the management
-- portal's sync page. One row per sync name, replaced by each run.
CREATE TABLE sync_results (
    name TEXT PRIMARY KEY,
    ran_at {time} NOT NULL,
    actor TEXT NOT NULL,
    result TEXT NOT NULL
);
