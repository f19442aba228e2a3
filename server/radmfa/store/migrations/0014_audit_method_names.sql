-- One vocabulary for methods (core/model.py AUDIT_METHODS, the names the docs
-- and [mfa] use): a code from a token was recorded as "otp" and a reject
-- before any second factor as "". They become "totp" (HOTP tokens were rare
-- then and cannot be told apart afterwards) and "none".
UPDATE audit SET factor = 'totp' WHERE factor = 'otp';

UPDATE audit SET factor = 'none' WHERE factor = '';

-- The per-day counts: add the renamed groups to any that already exist under
-- the new name, then drop the old ones.
INSERT INTO audit_daily (day, client_name, factor, result, n)
    SELECT day, client_name, 'totp', result, n FROM audit_daily WHERE factor = 'otp'
    ON CONFLICT (day, client_name, factor, result) DO UPDATE SET n = audit_daily.n + excluded.n;

DELETE FROM audit_daily WHERE factor = 'otp';

INSERT INTO audit_daily (day, client_name, factor, result, n)
    SELECT day, client_name, 'none', result, n FROM audit_daily WHERE factor = ''
    ON CONFLICT (day, client_name, factor, result) DO UPDATE SET n = audit_daily.n + excluded.n;

DELETE FROM audit_daily WHERE factor = '';

-- Challenge sessions in flight keep "otp" until they end (at most
-- challenge_ttl_s); the pipeline treats any session that is not a phone
-- method's as a code, so they still finish.
