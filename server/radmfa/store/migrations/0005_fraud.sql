-- Fraud alerts (seed 000): a user who gets a call or push they did not start
-- reports it (fraud code on the call, "Deny and report fraud" on the push), or
-- an administrator records one. Reviewed by the security team by status.
CREATE TABLE fraud_reports (
    id {serial},
    time {time} NOT NULL,
    username TEXT NOT NULL,
    source TEXT NOT NULL,
    client_name TEXT NOT NULL,
    calling_station_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    device TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL
);

CREATE INDEX fraud_reports_time ON fraud_reports (time);

CREATE INDEX fraud_reports_username ON fraud_reports (username, time);
