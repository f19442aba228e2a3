"""The LDAP front end: applications bind to radmfa over LDAP and get MFA.

  service.py     listeners, the per-client allow-list and connection limits
  connection.py  one client's session: framing, dispatch, StartTLS, limits
  ber.py         framing of LDAP messages on the byte stream
  protocol.py    RFC 4511 messages in and out (pyasn1, ldap3's ASN.1 module)
  binds.py       what a bind gets: the pipeline, then the user's own bind
  rebind.py      the same bind again soon reuses the completed MFA
  lookup.py      who a bind name is (user name, DN)
  names.py       DNs compared and read (RFC 4514)
  directory.py   connections to the directory bound as the client's identity

docs/operator-guide.md ("LDAP applications") says how to use it.
"""
