-- Settings kept in the store rather than radmfa.toml (`radmfa settings`,
-- the management portal): shared by every process and node. value is the
-- setting in JSON; who changed it, when and from what is in admin_events.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    changed_at {time} NOT NULL,
    changed_by TEXT NOT NULL
);

-- One row, bumped in the same transaction as every change: each process
-- polls it and reloads the settings when it moved.
CREATE TABLE settings_version (
    id INTEGER PRIMARY KEY,
    version {bigint} NOT NULL
);

INSERT INTO settings_version (id, version) VALUES (1, 0);

-- The management portal's accounts: users of radmfa (their password and
-- second factor sign them in) with a role.
CREATE TABLE admins (
    user_id {ref} PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at {time} NOT NULL,
    created_by TEXT NOT NULL
);

-- The management portal finds users by the start of their name, mobile
-- number or e-mail address: each a range over one of these indexes
-- (compared byte by byte, so that a prefix is a range on PostgreSQL too).
CREATE INDEX users_name_key_prefix ON users (name_key{bytewise});

CREATE INDEX users_mobile_prefix ON users (mobile{bytewise});

CREATE INDEX users_email_prefix ON users ((lower(email)){bytewise});
