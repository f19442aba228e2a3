"""Hardware OATH tokens: imported unassigned, then assigned to a user.

A mixin over UsersSql (it adds tokens with add_token), composed into SqlStore.
"""

# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Sequence

from radmfa.core.admin_model import HardwareToken
from radmfa.core.model import NewToken, Token
from radmfa.errors import AlreadyExists, NotFound
from radmfa.store.codec import from_epoch
from radmfa.store.sql_base import Row
from radmfa.store.sql_users import _TOKENS, UsersSql

_HARDWARE = "serial, kind, secret_enc, digits, period, algorithm, counter, label, imported_at"


def _hardware_aad(serial: str) -> bytes:
    # Bound to the serial, which is unique and never changes: a sealed seed
    # copied to another device's row does not open there.
    return b"hardware_tokens.secret_enc:" + serial.encode("utf-8")


class HardwareTokensSql(UsersSql):
    async def import_hardware_tokens(self, tokens: Sequence[HardwareToken]) -> int:
        if not tokens:
            return 0
        serials = [t.serial for t in tokens]
        if len(set(serials)) != len(serials):
            dup = next(s for s in serials if serials.count(s) > 1)
            raise AlreadyExists(f"serial {dup!r} appears twice in the file")
        marks = ", ".join(["?"] * len(serials))
        taken = await self._fetch(
            f"SELECT serial FROM hardware_tokens WHERE serial IN ({marks}) "
            f"UNION SELECT serial FROM tokens WHERE serial IN ({marks})",
            *serials,
            *serials,
        )
        if taken:
            shown = ", ".join(sorted(str(r[0]) for r in taken)[:5])
            raise AlreadyExists(f"already imported: serial {shown}")
        now = time.time()
        # One transaction: the whole file is imported, or nothing is.
        await self._execute_many(
            f"INSERT INTO hardware_tokens ({_HARDWARE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    t.serial, t.kind, self._cipher.encrypt(t.secret, context=_hardware_aad(t.serial)),
                    t.digits, t.period, t.algorithm, t.counter, t.label, now,
                )
                for t in tokens
            ],
        )
        return len(tokens)

    async def list_hardware_tokens(self) -> list[HardwareToken]:
        """The unassigned hardware tokens, by serial (seeds decrypted)."""
        rows = await self._fetch(f"SELECT {_HARDWARE} FROM hardware_tokens ORDER BY serial")
        return [self._hardware(row) for row in rows]

    def _hardware(self, row: Row) -> HardwareToken:
        serial = str(row[0])
        return HardwareToken(
            serial=serial, kind=row[1], secret=self._cipher.decrypt(bytes(row[2]), context=_hardware_aad(serial)),
            digits=row[3], period=row[4], algorithm=row[5], counter=row[6], label=row[7],
            imported_at=from_epoch(row[8]),
        )

    async def assign_hardware_token(self, serial: str, username: str) -> Token:
        """Move an unassigned token to ``username``. Raises NotFound (no such
        serial or user) or AlreadyExists (the serial is assigned already)."""
        rows = await self._fetch(f"SELECT {_HARDWARE} FROM hardware_tokens WHERE serial = ?", serial)
        if not rows:
            owner = await self._fetch(
                "SELECT u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.serial = ?", serial
            )
            if owner:
                raise AlreadyExists(f"hardware token {serial!r} is already assigned to {owner[0][0]!r}")
            raise NotFound(f"no unassigned hardware token with serial {serial!r} (see 'radmfa token unassigned')")
        hw = self._hardware(rows[0])
        # One transaction: the tokens row (its unique serial index lets only
        # one of two racing assignments in), then the unassigned row goes. A
        # failure in between leaves the token unassigned, never in both places.
        return await self._insert_token(
            username,
            NewToken(
                hw.kind, hw.secret, digits=hw.digits, period=hw.period, algorithm=hw.algorithm,
                label=hw.label, serial=hw.serial, last_step=hw.counter - 1 if hw.counter > 0 else None,
            ),
            also=[("DELETE FROM hardware_tokens WHERE serial = ?", (serial,))],
        )

    async def get_token_by_serial(self, serial: str) -> Token | None:
        rows = await self._fetch(
            f"SELECT u.name, {_TOKENS} FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.serial = ?", serial
        )
        return self._token(rows[0], 1, rows[0][0]) if rows else None
