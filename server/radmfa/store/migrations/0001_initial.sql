-- One schema for every backend. Placeholders in braces are column types that
-- differ between dialects (see store/schema.py); everything else is plain SQL
-- both SQLite and PostgreSQL accept. Times are epoch seconds: comparisons and
-- purges stay simple numeric ones on both backends.

CREATE TABLE users (
    id {serial},
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT,
    password_hash TEXT,
    created_at {time} NOT NULL
);

CREATE TABLE tokens (
    id {serial},
    user_id {ref} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    secret_enc {blob} NOT NULL,
    digits INTEGER NOT NULL,
    period INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    last_step {bigint},
    label TEXT,
    created_at {time} NOT NULL
);

CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE sessions (
    state {blob} PRIMARY KEY,
    client TEXT NOT NULL,
    username {blob} NOT NULL,
    factor TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    expires_at {time} NOT NULL,
    reply_enc {blob} NOT NULL,
    phase TEXT NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE audit (
    id {serial},
    time {time} NOT NULL,
    request_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    username TEXT NOT NULL,
    calling_station_id TEXT NOT NULL,
    factor TEXT NOT NULL,
    result TEXT NOT NULL,
    reason TEXT NOT NULL,
    duration_ms {real} NOT NULL
);

CREATE INDEX audit_time ON audit (time);

-- (username, time) serves "this user's events, in order" without a sort.
CREATE INDEX audit_username ON audit (username, time);

-- Small facts about the store itself; holds the key check that makes a wrong
-- key_file fail at start-up instead of at the first login.
CREATE TABLE store_meta (
    name TEXT PRIMARY KEY,
    value {blob} NOT NULL
);
