-- Wrong codes per token, so that guessing codes can be throttled or locked out
-- across every worker and node: note_code_failure counts them in one atomic
-- UPDATE, and the UPDATE that accepts a code (consume_otp_step) clears the count.
-- failed_at is when the last wrong code came; a success leaves it as it was.

ALTER TABLE tokens ADD COLUMN fail_count INTEGER NOT NULL DEFAULT 0;

ALTER TABLE tokens ADD COLUMN failed_at {time};
