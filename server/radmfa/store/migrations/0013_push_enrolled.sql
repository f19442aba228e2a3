-- Push is offered to a user only once they have subscribed their phone to
-- their topic and an administrator has marked them enrolled (`radmfa user set
-- NAME --push on`). Before, every user counted as having push as soon as a
-- push provider was configured: [mfa] new_user never applied and
-- `radmfa user reset` could not take push away. 0/1 (INTEGER on both backends).
ALTER TABLE users ADD COLUMN push_enrolled INTEGER NOT NULL DEFAULT 0;
