-- What each radmfa serve process last saw of its upstream servers and
-- delivery providers, for the management portal's Health card: one row per
-- (node, kind, name), replaced by each report (every few seconds). A row no
-- longer refreshed is a node that stopped; housekeeping drops it after a day.
CREATE TABLE component_health (
    node TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    up INTEGER NOT NULL,
    reported_at {time} NOT NULL,
    last_ok_at {time},
    last_failure_at {time},
    failure_reason TEXT NOT NULL,
    latency_s {real},
    PRIMARY KEY (node, kind, name)
);
