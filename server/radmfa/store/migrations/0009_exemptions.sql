-- The admin's controls: one-time bypasses, the MFA cache,
-- remembered devices, app passwords and the second-factor failure count that
-- drives the lockout. Everything here must be seen alike by every worker and
-- node, hence in the store.

-- Bypasses outlive their use, expiry, cancellation and even the user: they
-- are the bypass report (who created it, why, when and where it was used).
-- user_id has no foreign key for that reason; user ids are never reused.
CREATE TABLE bypasses (
    id {serial},
    user_id {ref} NOT NULL,
    username TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at {time} NOT NULL,
    expires_at {time} NOT NULL,
    cancelled_at {time},
    used_at {time},
    used_client TEXT,
    used_station TEXT
);

CREATE INDEX bypasses_user_id ON bypasses (user_id);

-- The last complete MFA success per cache scope (see core.exemptions.cache_scopes).
CREATE TABLE mfa_cache (
    user_id {ref} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    passed_at {time} NOT NULL,
    PRIMARY KEY (user_id, scope)
);

-- Stations (the client's user_ip_attribute) of a complete MFA success.
CREATE TABLE remembered_devices (
    user_id {ref} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    station TEXT NOT NULL,
    client TEXT NOT NULL,
    remembered_at {time} NOT NULL,
    PRIMARY KEY (user_id, station)
);

-- lookup is the password's first characters (not secret): the one row whose
-- argon2 hash a login checks.
CREATE TABLE app_passwords (
    id {serial},
    user_id {ref} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    lookup TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at {time} NOT NULL,
    last_used_at {time},
    UNIQUE (user_id, lookup),
    UNIQUE (user_id, name)
);

-- Second-factor failures in a row; a success deletes the row.
CREATE TABLE mfa_failures (
    user_id {ref} PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures INTEGER NOT NULL,
    failed_at {time} NOT NULL
);
