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

-- username too: "top users by failures" counts rejects per user from the
-- index alone, without reading the rows.
CREATE INDEX audit_result ON audit (result, time, username);

-- Authentications per UTC day, client, method and result, kept up to date by
-- write_audit in the same transaction as the rows: `radmfa report usage`
-- counts a year from here in milliseconds instead of grouping a million audit
-- rows (docs/benchmarks.md, "Reports"). Retention drops whole days of it.
CREATE TABLE audit_daily (
    day {bigint} NOT NULL,
    client_name TEXT NOT NULL,
    factor TEXT NOT NULL,
    result TEXT NOT NULL,
    n {bigint} NOT NULL,
    PRIMARY KEY (day, client_name, factor, result)
);

INSERT INTO audit_daily (day, client_name, factor, result, n)
    SELECT {day}, client_name, factor, result, COUNT(*) FROM audit
    GROUP BY {day}, client_name, factor, result;
