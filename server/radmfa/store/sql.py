"""SqlStore: the Store both backends share, composed of one mixin per domain.

A backend (sqlite.py, postgres.py) subclasses SqlStore and provides the four
primitives of SqlBase; everything else is the same SQL text on both.
"""

from __future__ import annotations

from radmfa.store.sql_audit import AUDIT_PURGE_BATCH, AuditSql
from radmfa.store.sql_base import Row, Statement
from radmfa.store.sql_directory import DirectorySql
from radmfa.store.sql_exemptions import ExemptionsSql
from radmfa.store.sql_fraud import FraudSql
from radmfa.store.sql_hardware import HardwareTokensSql
from radmfa.store.sql_limits import LimitsSql
from radmfa.store.sql_messages import MessagesSql
from radmfa.store.sql_oob import OobSql
from radmfa.store.sql_reports import ReportsSql
from radmfa.store.sql_sessions import SessionsSql
from radmfa.store.sql_users import UsersSql

__all__ = ["AUDIT_PURGE_BATCH", "Row", "SqlStore", "Statement"]


class SqlStore(
    HardwareTokensSql,
    UsersSql,
    SessionsSql,
    AuditSql,
    FraudSql,
    MessagesSql,
    LimitsSql,
    DirectorySql,
    ReportsSql,
    ExemptionsSql,
    OobSql,
):
    """Implements core.ports.Store over the primitives a backend provides."""
