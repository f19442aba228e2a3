"""FreeRADIUS as an accounting server: a FreeRadius (freeradius.py) that also
listens for Accounting-Requests and writes each one to a detail file, where a
test counts what arrived.

It is started and awaited like any FreeRadius (Status-Server on the auth
port); the accounting port is another free port.
"""

from __future__ import annotations

from pathlib import Path

from tests.peers.freeradius import FreeRadius, _listen_address
from tests.peers.ports import free_udp_port


class AccountingFreeRadius(FreeRadius):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("log_auth", False)
        super().__init__(*args, accept_all=True, **kwargs)  # type: ignore[arg-type]
        self.acct_port = free_udp_port(self.host)

    @property
    def acct_address(self) -> str:
        return f"{self.host}:{self.acct_port}"

    @property
    def detail_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "log" / "detail"

    def detail_records(self) -> list[dict[str, str]]:
        """Each request the detail file holds: its attributes, by name (values unquoted)."""
        if self.directory is None or not self.detail_path.exists():
            return []
        records: list[dict[str, str]] = []
        for block in self.detail_path.read_text(errors="replace").split("\n\n"):
            lines = [line.strip() for line in block.splitlines()[1:] if " = " in line]
            if lines:
                records.append({k: v.strip('"') for k, _, v in (line.partition(" = ") for line in lines)})
        return records

    def _write_config(self) -> Path:
        raddb = super()._write_config()
        assert self.directory is not None
        site = raddb / "sites-enabled" / "radmfa_test"
        text = site.read_text().rstrip()
        assert text.endswith("}")
        extra = [
            "listen {", " type = acct", f" {_listen_address(self.host)}", f" port = {self.acct_port}", "}",
            "accounting {", " acct_detail", "}",
        ]
        site.write_text(text[:-1] + "\n".join(extra) + "\n}\n")
        (raddb / "mods-enabled" / "acct_detail").write_text(
            "detail acct_detail {\n"
            f" filename = {self.directory / 'log' / 'detail'}\n"
            " permissions = 0600\n"
            ' header = "%t"\n'
            " locking = no\n"
            " escape_filenames = no\n"
            "}\n"
        )
        return raddb
