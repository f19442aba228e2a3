"""Custom messages and voice recordings, in the SQL both backends share."""

# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from radmfa.core.model import CustomMessage
from radmfa.errors import AlreadyExists
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import Row, SqlBase

# Every column but the recording itself: listings and the send path never
# need to move megabytes of audio.
_COLUMNS = "id, kind, language, client, text, audio_type, audio_size, created_at"
_INSERT = "INSERT INTO messages (kind, language, client, text, audio, audio_type, audio_size, created_at) "


def _message(row: Row) -> CustomMessage:
    return CustomMessage(
        kind=row[1],
        language=row[2],
        client=row[3],
        text=row[4],
        audio_type=row[5],
        audio_size=int(row[6]),
        created_at=from_epoch(row[7]),
        id=int(row[0]),
    )


class MessagesSql(SqlBase):
    async def add_message(self, message: CustomMessage, *, replace: bool = False) -> CustomMessage:
        audio = message.audio
        if (message.text is None) == (audio is None) or (audio is not None and not message.audio_type):
            raise ValueError("a custom message holds either text, or audio with its audio_type")
        created = message.created_at or datetime.now(UTC)
        args = (
            message.kind,
            message.language.lower(),  # BCP 47 tags compare case-insensitively (RFC 5646 §2.1.1)
            message.client,
            message.text,
            audio,
            message.audio_type,
            len(audio) if audio is not None else 0,
            to_epoch(created),
        )
        # One statement either way: two admins adding the same message at once
        # get one row and one AlreadyExists, never two rows or a half-replace.
        conflict = (
            "ON CONFLICT (kind, language, client) DO UPDATE SET text = excluded.text, "
            "audio = excluded.audio, audio_type = excluded.audio_type, "
            "audio_size = excluded.audio_size, created_at = excluded.created_at"
            if replace
            else "ON CONFLICT (kind, language, client) DO NOTHING"
        )
        rows = await self._fetch(f"{_INSERT}VALUES (?, ?, ?, ?, ?, ?, ?, ?) {conflict} RETURNING {_COLUMNS}", *args)
        if not rows:
            raise AlreadyExists(
                f"a {message.kind} message for {_describe(message)} already exists (id shown by "
                "radmfa message list): delete it first, or add with --replace"
            )
        return _message(rows[0])

    async def list_messages(self, kind: str | None = None) -> list[CustomMessage]:
        where, args = ("WHERE kind = ? ", (kind,)) if kind is not None else ("", ())
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM messages {where}ORDER BY kind, language, client", *args)
        return [_message(r) for r in rows]

    async def get_message(self, message_id: int) -> CustomMessage | None:
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM messages WHERE id = ?", message_id)
        return _message(rows[0]) if rows else None

    async def find_messages(
        self, kind: str, languages: Sequence[str], clients: Sequence[str]
    ) -> list[CustomMessage]:
        if not languages or not clients:
            return []
        langs = ", ".join("?" * len(languages))
        names = ", ".join("?" * len(clients))
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM messages WHERE kind = ? AND language IN ({langs}) AND client IN ({names})",
            kind,
            *languages,
            *clients,
        )
        return [_message(r) for r in rows]

    async def voice_file(self, message_id: int) -> tuple[bytes, str] | None:
        rows = await self._fetch(
            "SELECT audio, audio_type FROM messages WHERE id = ? AND audio IS NOT NULL", message_id
        )
        return (bytes(rows[0][0]), str(rows[0][1])) if rows else None

    async def delete_message(self, message_id: int) -> bool:
        return await self._execute("DELETE FROM messages WHERE id = ?", message_id) > 0


def _describe(message: CustomMessage) -> str:
    language = f"language {message.language!r}" if message.language else "the default language"
    client = f"client {message.client!r}" if message.client else "every client"
    return f"{language} and {client}"
