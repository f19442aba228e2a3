-- audit_phone holds only the rows that called or texted someone: most rows
-- (proxied, TOTP, push) have no phone, and each of them cost the insert one
-- index entry no report reads. The phone filter says phone <> '' too
-- (store/sql_audit.py audit_where), which both databases need to use a
-- partial index with a bound parameter.
DROP INDEX audit_phone;

CREATE INDEX audit_phone ON audit (phone, time) WHERE phone <> '';
