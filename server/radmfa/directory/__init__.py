"""LDAP / Active Directory: connections (ldapconn.py) and user sync (sync.py)."""
