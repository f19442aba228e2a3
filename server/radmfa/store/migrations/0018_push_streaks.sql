-- The push deny streak ([limits] push_deny_streak): pushes a user denied,
-- answered with a wrong number or left unanswered, counted from the first
-- of them (first_at) within push_deny_window_s. At the limit the user's
-- pushes are refused until a push is approved or an administrator clears
-- the row (`radmfa user unblock`). One row per user (name_key), changed by
-- single upserts, so every worker and node counts the same streak.
CREATE TABLE push_streaks (
    username TEXT PRIMARY KEY,
    first_at {time} NOT NULL,
    n INTEGER NOT NULL
);

-- A push with number matching is waited for by the challenge's answer,
-- which finds it by its waiter (the challenge's State).
CREATE INDEX oob_sessions_waiter ON oob_sessions (waiter);
