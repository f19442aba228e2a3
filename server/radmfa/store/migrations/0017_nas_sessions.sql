-- Who is connected where, from the NASes' accounting (RFC 2866): one row per
-- (client, Acct-Session-Id), made by Start or the first Interim-Update and
-- ended by Stop, Accounting-On/Off of that client, or an acknowledged
-- Disconnect-Request (RFC 5176). nas_address is where the accounting came
-- from: the Disconnect-Request goes there. name_key is the user as the store
-- knows them (every spelling of a name finds the same sessions).
CREATE TABLE nas_sessions (
    id {serial},
    client TEXT NOT NULL,
    session_id TEXT NOT NULL,
    username TEXT NOT NULL,
    name_key TEXT NOT NULL,
    nas_address TEXT NOT NULL,
    nas_ip TEXT NOT NULL,
    nas_identifier TEXT NOT NULL,
    framed_ip TEXT NOT NULL,
    calling_station_id TEXT NOT NULL,
    started_at {time} NOT NULL,
    seen_at {time} NOT NULL,
    stopped_at {time},
    stop_reason TEXT NOT NULL DEFAULT '',
    UNIQUE (client, session_id)
);

CREATE INDEX nas_sessions_user ON nas_sessions (name_key, stopped_at);

CREATE INDEX nas_sessions_live ON nas_sessions (stopped_at, seen_at);
