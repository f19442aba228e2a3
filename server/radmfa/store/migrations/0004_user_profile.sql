-- What the phone factors, the admin's controls and the directory sync need to
-- know about a person, and a log of what administrators changed.
--
-- users.phone becomes users.mobile (the number texts and calls go to); the
-- office phone is a second number voice calls may use.
ALTER TABLE users RENAME COLUMN phone TO mobile;

ALTER TABLE users ADD COLUMN office_phone TEXT;

-- BCP 47 tag (e.g. "en", "de-CH") picking the set of custom messages.
ALTER TABLE users ADD COLUMN language TEXT;

-- The second factor offered first or run at once for out-of-band clients.
ALTER TABLE users ADD COLUMN default_method TEXT;

-- enabled | disabled | enforced | blocked (see core.model.UserState).
ALTER TABLE users ADD COLUMN state TEXT NOT NULL DEFAULT 'enabled';

-- A block with an end (lockout, fraud) lifts itself at blocked_until; NULL with
-- state = 'blocked' means until an administrator unblocks.
ALTER TABLE users ADD COLUMN blocked_until {time};

ALTER TABLE users ADD COLUMN blocked_reason TEXT;

-- One row per change an administrator made (who, when, what), never secrets.
CREATE TABLE admin_events (
    id {serial},
    time {time} NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE INDEX admin_events_time ON admin_events (time);
