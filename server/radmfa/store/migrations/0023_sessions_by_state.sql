-- Challenge sessions are written, then taken back, by their State alone:
-- every challenge costs one insert and one delete. On SQLite the table is
-- kept in its primary key's b-tree (WITHOUT ROWID; a rowid table also keeps
-- the key's index beside it), and on both databases the index on expires_at
-- goes: only the periodic purge and the metrics' count of open challenges
-- filter on the time, over a table that holds only challenges not yet
-- answered, and each insert and delete paid its entry.
CREATE TABLE sessions_by_state (
    state {blob} PRIMARY KEY,
    client TEXT NOT NULL,
    username {blob} NOT NULL,
    factor TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    expires_at {time} NOT NULL,
    reply_enc {blob} NOT NULL,
    phase TEXT NOT NULL
){keyed};

INSERT INTO sessions_by_state (state, client, username, factor, attempts, expires_at, reply_enc, phase)
SELECT state, client, username, factor, attempts, expires_at, reply_enc, phase FROM sessions;

DROP TABLE sessions;

ALTER TABLE sessions_by_state RENAME TO sessions;
