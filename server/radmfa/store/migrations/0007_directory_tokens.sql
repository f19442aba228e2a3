-- Hardware OATH tokens imported from a vendor's seed file (PSKC, CSV) wait
-- here, unassigned, until `radmfa token assign SERIAL USER` moves one into
-- tokens. secret_enc is sealed like tokens.secret_enc, bound to the serial.
CREATE TABLE hardware_tokens (
    id {serial},
    serial TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    secret_enc {blob} NOT NULL,
    digits INTEGER NOT NULL,
    period INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    counter {bigint} NOT NULL,
    label TEXT,
    imported_at {time} NOT NULL
);

-- An assigned hardware token keeps its serial; the unique index is what stops
-- one device being assigned twice (NULLs, for app tokens, never collide).
ALTER TABLE tokens ADD COLUMN serial TEXT;

CREATE UNIQUE INDEX tokens_serial ON tokens (serial);

-- Where a user came from: NULL for users an admin added, 'directory' for
-- users `radmfa sync` created. Sync only ever blocks or removes its own.
ALTER TABLE users ADD COLUMN source TEXT;

-- When the scheduled directory sync may run next. Every worker and node asks;
-- the one whose compare-and-set UPDATE moves next_at forward runs it.
CREATE TABLE sync_runs (
    name TEXT PRIMARY KEY,
    next_at {time} NOT NULL
);
