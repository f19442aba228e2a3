-- Phone, push and e-mail factors.
--
-- A call, push or two-way text the user answers on the phone while the NAS's
-- Access-Request is held. The provider's callback may reach any process or
-- node: it decides the row with one UPDATE … WHERE phase = 'awaiting_approval'
-- and the waiting request, polling the row, answers the NAS.
CREATE TABLE oob_sessions (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    client TEXT NOT NULL,
    method TEXT NOT NULL,
    destination TEXT NOT NULL,
    waiter TEXT NOT NULL,
    expires_at {time} NOT NULL,
    phase TEXT NOT NULL,
    reason TEXT NOT NULL,
    code_hash {blob},
    calling_station_id TEXT NOT NULL
);

-- At most one undecided call or push per user and NAS: a second
-- Access-Request joins it (takes over as the waiter) instead of calling again.
CREATE UNIQUE INDEX oob_sessions_pending ON oob_sessions (username, client) WHERE phase = 'awaiting_approval';

CREATE INDEX oob_sessions_expires_at ON oob_sessions (expires_at);

CREATE INDEX oob_sessions_destination ON oob_sessions (destination, phase);

-- A code texted or e-mailed for a challenge, keyed by the State that asks for
-- it; only a keyed hash is kept, and it is taken (deleted) when checked.
CREATE TABLE sent_codes (
    state {blob} PRIMARY KEY,
    code_hash {blob} NOT NULL,
    expires_at {time} NOT NULL
);

CREATE INDEX sent_codes_expires_at ON sent_codes (expires_at);
