-- The state a user had before a block (lockout, fraud report, an
-- administrator), so that `radmfa user unblock` and a block's end restore it:
-- an enforced user (MFA always) must not come back as enabled (password only
-- until enrolled), nor a disabled one as enforced. NULL: not known (a block
-- from before this column), read as before: enabled on unblock, enforced at
-- a block's end.
ALTER TABLE users ADD COLUMN state_before_block TEXT;
