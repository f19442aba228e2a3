-- Custom messages (seed 000): an operator's text or voice recording that
-- replaces a built-in message, per message kind, language and client.
-- language '' = the default set (any language); client '' = every client.
-- A row holds either text or a recording (audio, audio_type), never both.
CREATE TABLE messages (
    id {serial},
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    client TEXT NOT NULL,
    text TEXT,
    audio {blob},
    audio_type TEXT,
    audio_size {bigint} NOT NULL,
    created_at {time} NOT NULL,
    UNIQUE (kind, language, client)
);

-- Abuse limits: fixed-window send counters, one row per (scope, method,
-- window), incremented atomically by every worker and node. scope is
-- 'user:<name key>' or 'global'; rows are purged once expires_at is past.
CREATE TABLE send_counters (
    scope TEXT NOT NULL,
    method TEXT NOT NULL,
    window_start {bigint} NOT NULL,
    n {bigint} NOT NULL,
    expires_at {time} NOT NULL,
    PRIMARY KEY (scope, method, window_start)
);

CREATE INDEX send_counters_expires ON send_counters (expires_at);
