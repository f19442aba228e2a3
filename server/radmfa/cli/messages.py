"""`radmfa message add|list|show|delete|preview`: custom messages (seed 000)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from radmfa.cli import adminlog
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.parsing import CommandError, UsageError
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core import messages
from radmfa.core.admin_ports import AdminStore
from radmfa.core.model import MESSAGE_KINDS, VOICE_KINDS, CustomMessage
from radmfa.errors import NotFound, no_such_user
from radmfa.radius.clients import load_clients
from radmfa.reports.rows import format_time

LIST_COLUMNS = ("id", "kind", "language", "client", "content", "added")
# BCP 47 in the shape people write it: "en", "de-CH", "zh-Hant-TW".
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}")
_SAMPLE = {"code": "123456", "minutes": "5", "menu": "1 = text to •••1234, 2 = call •••1234, 3 = push"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("message", help="custom texts and voice recordings sent to users")
    cmds = group.add_subparsers(title="message commands", metavar="COMMAND", required=True)

    p = cmds.add_parser(
        "add",
        help="replace a built-in message with your own text or recording",
        description=(
            "Placeholders: {code} {app} {user} {minutes} {menu} {fraud_code}, each where the kind uses it "
            "(radmfa message preview KIND shows the built-in text). Recordings (.wav or .mp3, at most 5 MB, "
            "under 20 seconds) are for voice_greeting and voice_prompt."
        ),
    )
    p.add_argument("kind", metavar="KIND", type=_kind, help=", ".join(MESSAGE_KINDS))
    _scope_options(p)
    content = p.add_mutually_exclusive_group(required=True)
    content.add_argument("--text", help="the template ('-' reads it from stdin)")
    content.add_argument("--file", type=Path, help="a .wav or .mp3 recording (voice kinds)")
    p.add_argument("--replace", action="store_true", help="replace the message already set for this slot")
    p.set_defaults(func=cmd_add)

    p = cmds.add_parser("list", help="list custom messages")
    p.add_argument("--kind", type=_kind)
    add_format_option(p)
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("show", help="show one custom message")
    p.add_argument("id", metavar="ID", type=int)
    p.set_defaults(func=cmd_show)

    p = cmds.add_parser("delete", help="delete a custom message (the built-in text applies again)")
    p.add_argument("id", metavar="ID", type=int)
    p.set_defaults(func=cmd_delete)

    p = cmds.add_parser("preview", help="show the text a user would get, with sample values")
    p.add_argument("kind", metavar="KIND", type=_kind)
    _scope_options(p)
    p.add_argument("--user", help="fill {user}; their language applies unless --language is given")
    p.set_defaults(func=cmd_preview)


def _scope_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--language", type=_language, default="", help="BCP 47 tag (default: the default set)")
    p.add_argument("--client", default="", help="clients.conf client name or shortname (default: every client)")


def _kind(text: str) -> str:
    if text not in MESSAGE_KINDS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a message kind: use one of {', '.join(MESSAGE_KINDS)}")
    return text


def _language(text: str) -> str:
    try:
        return language_tag(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def language_tag(text: str) -> str:
    """A BCP 47 tag as messages are kept under it ("" = the default set)."""
    if text and not _LANGUAGE.fullmatch(text):
        raise UsageError(f"{text!r} is not a language tag such as en, de or pt-BR")
    return messages.normal_language(text)


def client_name(cfg: Config, name: str) -> tuple[str, str]:
    """(the client's clients.conf name, its {app}) for --client; ("", "") for none."""
    if not name:
        return "", ""
    table = load_clients(cfg.radius.clients_file)
    for client in table:
        if name in (client.name, client.shortname):
            policy = cfg.client_policies(table).get(client.name)
            return client.name, (policy.app_name if policy is not None else "") or client.name
    # Like a missing user: the command line is well formed, the client is not there.
    raise CommandError(f'no client "{name}" in {cfg.radius.clients_file} (by name or shortname)')


def _slot(m: CustomMessage) -> str:
    return f"{m.kind} language={m.language or 'default'} client={m.client or 'any'}"


def _content(m: CustomMessage, *, whole: bool = False) -> str:
    if m.audio_type is not None:
        return f"recording {m.audio_type}, {m.audio_size} bytes"
    if whole:
        return m.text or ""
    text = " ".join((m.text or "").split())
    return text if len(text) <= 60 else text[:57] + "..."


# -- add -------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace, cfg: Config) -> int:
    client, _ = client_name(cfg, args.client)
    message = _new_message(args, client)

    async def work(store: AdminStore) -> CustomMessage:
        return await add(store, message, replace=args.replace)

    stored = run_with_store(cfg, work)
    print(f"added message {stored.id}: {_slot(stored)} ({_content(stored)})")
    if stored.kind == "sms" and stored.text is not None:
        sample = messages.fill("sms", stored.text, client=client or "app", values={**_SAMPLE, "user": "alice"})
        segments = messages.sms_segments(sample)
        if segments > 1:
            print(f"note: with sample values this text takes {segments} SMS segments, each one billed",
                  file=sys.stderr)
    return 0


async def add(store: AdminStore, message: CustomMessage, *, replace: bool, by: str | None = None) -> CustomMessage:
    """Store a checked message (message add, the management portal), in the admin log."""
    stored = await store.add_message(message, replace=replace)
    detail = f"id={stored.id} " + (_content(stored) if stored.audio_type else f"text={message.text!r}")
    await adminlog.record(store, "message.replace" if replace else "message.add", _slot(stored), detail, by=by)
    return stored


def text_message(kind: str, language: str, client: str, text: str) -> CustomMessage:
    """A text message, checked (MessageError says what is wrong)."""
    messages.check_template(kind, text)
    return CustomMessage(kind, language, client, text=text)


def recording(kind: str, language: str, client: str, data: bytes, filename: str) -> CustomMessage:
    """A recording, its type from its first bytes (MessageError: not WAV or MP3, too big)."""
    if kind not in VOICE_KINDS:
        raise UsageError(f"a recording is for {' and '.join(VOICE_KINDS)} only; {kind} takes a text")
    return CustomMessage(kind, language, client, audio=data, audio_type=messages.audio_type(data, filename))


def _new_message(args: argparse.Namespace, client: str) -> CustomMessage:
    if args.file is None:
        text = sys.stdin.read().rstrip("\n") if args.text == "-" else args.text
        return text_message(args.kind, args.language, client, text)
    if args.kind not in VOICE_KINDS:
        raise UsageError(f"--file is for {' and '.join(VOICE_KINDS)} only; {args.kind} takes --text")
    return recording(args.kind, args.language, client, _read_recording(args.file), str(args.file))


def _read_recording(path: Path) -> bytes:
    try:
        # Refuse a huge file before reading it into memory.
        messages.check_voice_size(path.stat().st_size, str(path))
        return path.read_bytes()
    except OSError as e:
        raise CommandError(f"cannot read {path}: {e.strerror}") from None


# -- list / show / delete --------------------------------------------------------


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> list[CustomMessage]:
        return await store.list_messages(args.kind)

    found = run_with_store(cfg, work)
    if not found and args.format == "table":
        print("no custom messages: the built-in texts apply")
        return 0
    rows = [
        (m.id, m.kind, m.language or "default", m.client or "any", _content(m, whole=args.format == "csv"),
         format_time(m.created_at) if m.created_at else "")
        for m in found
    ]
    write_rows(LIST_COLUMNS, rows, args.format, sys.stdout)
    return 0


def cmd_show(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> CustomMessage | None:
        return await store.get_message(args.id)

    m = run_with_store(cfg, work)
    if m is None:
        raise NotFound(f"no custom message {args.id}")
    for key, value in (
        ("id", str(m.id)),
        ("kind", m.kind),
        ("language", m.language or "default"),
        ("client", m.client or "any"),
        ("added", format_time(m.created_at) if m.created_at else ""),
    ):
        print(f"{key + ':':<10} {value}")
    if m.audio_type is not None:
        print(f"{'content:':<10} recording {m.audio_type}, {m.audio_size} bytes")
    else:
        print(f"{'content:':<10}\n{m.text}")
    return 0


def cmd_delete(args: argparse.Namespace, cfg: Config) -> int:
    m = run_with_store(cfg, lambda store: delete(store, args.id))
    print(f"deleted message {m.id}: {_slot(m)}")
    return 0


async def delete(store: AdminStore, message_id: int, *, by: str | None = None) -> CustomMessage:
    """Delete a custom message (message delete, the management portal); the built-in text applies again."""
    m = await store.get_message(message_id)
    if m is None or not await store.delete_message(message_id):
        raise NotFound(f"no custom message {message_id}")
    await adminlog.record(store, "message.delete", _slot(m), f"id={m.id}", by=by)
    return m


# -- preview ---------------------------------------------------------------------


def cmd_preview(args: argparse.Namespace, cfg: Config) -> int:
    text, recorded = run_with_store(
        cfg, lambda store: preview(store, cfg, args.kind, language=args.language, client=args.client, user=args.user))
    if recorded is not None:
        print(f"plays the recording of message {recorded}")
    else:
        print(text)
    return 0


async def preview(
    store: AdminStore, cfg: Config, kind: str, *, language: str, client: str, user: str | None
) -> tuple[str, int | None]:
    """The text a user would get, with sample values (message preview, the
    management portal), and the id of the recording played instead, if any."""
    client, app = client_name(cfg, client)
    if user:
        found = await store.get_user(user)
        if found is None:
            raise no_such_user(user)
        language = language or found.language or ""
    values = {**_SAMPLE, "user": user or "alice", "app": app or "radmfa"}
    text = await messages.render(store, kind, language=language, client=client, values=values)
    if kind in VOICE_KINDS:
        url = await messages.voice_file_url(store, kind, language=language, client=client,
                                            public_url="https://radmfa.example")
        if url is not None:
            return text, int(url.rsplit("/", 1)[-1])
    return text, None
