-- The LDAP front end's repeated binds (front/ldap/rebind.py): an application
-- that binds again for the same user, from the same client, with the same
-- password within [ldap_front] rebind_seconds reuses the completed MFA, in
-- whichever worker or node the bind lands. mac is a keyed hash (HMAC-SHA256
-- under a key sealed with the seed key) of the client, the bind name and the
-- password: never the password. Rows go once rebind_seconds are over.
CREATE TABLE ldap_rebinds (
    name_key TEXT NOT NULL,
    client TEXT NOT NULL,
    mac {blob} NOT NULL,
    completed_at {time} NOT NULL,
    PRIMARY KEY (name_key, client)
);
