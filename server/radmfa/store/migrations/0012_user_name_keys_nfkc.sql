-- core.policy.name_key now applies NFKC (it was NFC): full-width ａｌｉｃｅ and
-- alice are one user, as the directory (RFC 4518) and AD already treat them.
-- Every key is computed again; two users that become one stop the upgrade
-- with a message naming both (as in 0002).

-- First a placeholder no real key can equal, so re-keying row by row never
-- trips the unique index on a key another row is about to give up.
UPDATE users SET name_key = '#rekey:' || CAST(id AS TEXT);

@backfill users.name_key;
