-- What each verification records (seed 002): the person (names and email only
-- when [audit] says so), the phone called or device pushed, the end user's
-- address, and which radmfa node answered. Old rows get empty strings.
ALTER TABLE audit ADD COLUMN first_name TEXT NOT NULL DEFAULT '';

ALTER TABLE audit ADD COLUMN last_name TEXT NOT NULL DEFAULT '';

ALTER TABLE audit ADD COLUMN email TEXT NOT NULL DEFAULT '';

ALTER TABLE audit ADD COLUMN phone TEXT NOT NULL DEFAULT '';

ALTER TABLE audit ADD COLUMN device TEXT NOT NULL DEFAULT '';

ALTER TABLE audit ADD COLUMN user_ip TEXT NOT NULL DEFAULT '';

ALTER TABLE audit ADD COLUMN server_name TEXT NOT NULL DEFAULT '';

ALTER TABLE audit ADD COLUMN server_ip TEXT NOT NULL DEFAULT '';

-- One index per report filter, each (filter, time) so a filtered date range is
-- one index range read in time order (report auth, docs/benchmarks.md). The
-- range alone uses audit_time; user uses audit_username (0001).
CREATE INDEX audit_client ON audit (client_name, time);

CREATE INDEX audit_phone ON audit (phone, time);

CREATE INDEX audit_factor ON audit (factor, time);

CREATE INDEX audit_result ON audit (result, time);
