-- The portals (web/): sessions kept in the store, so that several portal
-- processes behind one address serve the same users, and the one-time
-- enrollment links an administrator hands out (`radmfa user enroll-link`).

-- The cookie holds a random id; only its SHA-256 is stored, and the
-- session's contents (CSRF token, a flow in progress) are sealed with the
-- store key. username is the user as enrolled ("" before the password).
CREATE TABLE web_sessions (
    id_hash {blob} PRIMARY KEY,
    portal TEXT NOT NULL,
    username TEXT NOT NULL,
    name_key TEXT NOT NULL,
    created_at {time} NOT NULL,
    seen_at {time} NOT NULL,
    expires_at {time} NOT NULL,
    body_enc {blob} NOT NULL
);

CREATE INDEX web_sessions_seen_at ON web_sessions (seen_at);

CREATE INDEX web_sessions_user ON web_sessions (name_key, portal);

-- Single use: consumed by one UPDATE … WHERE used_at IS NULL. Only the
-- SHA-256 of the token is stored, so a copy of the database opens no link.
CREATE TABLE enrollment_links (
    id {serial},
    token_hash {blob} NOT NULL UNIQUE,
    user_id {ref} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    created_at {time} NOT NULL,
    expires_at {time} NOT NULL,
    used_at {time}
);

CREATE INDEX enrollment_links_user_id ON enrollment_links (user_id);
