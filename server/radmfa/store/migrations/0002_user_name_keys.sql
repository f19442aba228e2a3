-- Users are found by a canonical key (core.policy.name_key), not by the name
-- as typed: an exact match made ALICE, alice@corp.example and CORP\alice
-- unknown users, and an unknown user may be let in on a password alone.
-- users.name stays as the operator wrote it, for display.

-- SQLite adds a NOT NULL column only with a default; the backfill gives every
-- row its real key before the unique index is built.
ALTER TABLE users ADD COLUMN name_key TEXT NOT NULL DEFAULT '';

@backfill users.name_key;

-- Not "users_name_key": PostgreSQL already gave that name to the index behind
-- users.name's UNIQUE.
CREATE UNIQUE INDEX users_name_key_unique ON users (name_key);
