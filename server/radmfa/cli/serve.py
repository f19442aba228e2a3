"""`radmfa serve`, `radmfa check-config`, `radmfa demo`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from radmfa.config import Config, format_host_port
from radmfa.errors import AlreadyExists
from radmfa.radius.clients import load_clients
from radmfa.radius.dictionary import load_dictionary

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the documented demo login


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the RADIUS server")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("check-config", help="validate radmfa.toml, clients.conf and the dictionary")
    p.set_defaults(func=cmd_check_config)
    p = sub.add_parser("demo", help="create the demo user and token, print its TOTP URI, then serve")
    p.set_defaults(func=cmd_demo)


def check(cfg: Config) -> list[str]:
    """Validate everything start-up reads; returns warnings, raises on errors."""
    clients = load_clients(cfg.radius.clients_file)
    load_dictionary(cfg.radius.dictionary_file)
    cfg.client_policies(clients)  # every [clients.<name>] names a client
    if cfg.ldap_front is not None:  # LDAP client names apart from clients.conf's; the certificate loads
        from radmfa.front.ldap.service import merged_policies, server_context

        merged_policies(cfg, {}, {c.name for c in clients})
        server_context(cfg.ldap_front, cfg.path.name)
    warnings = list(clients.warnings)
    if not len(clients):
        warnings.append(f"{cfg.radius.clients_file}: no clients defined; every packet will be dropped")
    return warnings


def cmd_check_config(args: argparse.Namespace, cfg: Config) -> int:
    for w in check(cfg):
        print(f"warning: {w}", file=sys.stderr)
    print(f"{cfg.path}: OK")
    return 0


def cmd_serve(args: argparse.Namespace, cfg: Config) -> int:
    check(cfg)
    from radmfa.service.run import run_workers

    return run_workers(cfg)


async def _ensure_demo_user(cfg: Config) -> str:
    from radmfa.core.model import NewToken, NewUser
    from radmfa.factors.totp import provisioning_uri
    from radmfa.store import open_store
    from radmfa.upstream.passwords import hash_password

    store = await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
    try:
        with contextlib.suppress(AlreadyExists):
            await store.add_user(NewUser(DEMO_USER, password_hash=hash_password(DEMO_PASSWORD)))
        tokens = await store.list_tokens(DEMO_USER)
        if not tokens:
            import secrets

            tokens = [await store.add_token(DEMO_USER, NewToken("totp", secrets.token_bytes(20), label="demo"))]
        return provisioning_uri(tokens[0], issuer=cfg.mfa.issuer)
    finally:
        await store.close()


def cmd_demo(args: argparse.Namespace, cfg: Config) -> int:
    check(cfg)
    (cfg.base_dir / cfg.store.key_file).parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the demo's var/
    uri = asyncio.run(_ensure_demo_user(cfg))
    secret = uri.split("secret=")[1].split("&")[0]
    host, port = cfg.radius.listen[0]
    print(
        f"""
radmfa demo
  user:      {DEMO_USER}
  password:  {DEMO_PASSWORD}
  TOTP seed: {secret}  (add it to any authenticator app, or scan the QR code)
  URI:       {uri}
""".rstrip()
    )
    if sys.stdout.isatty():
        import qrcode

        qr = qrcode.QRCode(border=1)
        qr.add_data(uri)
        qr.print_ascii(tty=True)
    print(
        f"""
Log in from another terminal:
  .venv/bin/radmfa login {DEMO_USER} --config {cfg.path}
  (password {DEMO_PASSWORD}, then the 6-digit code; or answer "{DEMO_PASSWORD},123456" in one go)
Listening on {format_host_port(host, port)}. Ctrl-C stops.
""",
        flush=True,
    )
    from radmfa.service.run import run_workers

    return run_workers(cfg)

