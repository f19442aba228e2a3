"""The `radmfa ready` log line names each listen address as it is written in
radmfa.toml: an IPv6 address in brackets, so the port is not read as part
of it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_the_ready_line_writes_ipv6_addresses_in_brackets(radmfa_factory) -> None:
    server = radmfa_factory()
    v4 = f'"127.0.0.1:{server.port}"'
    server.config_path.write_text(server.config_path.read_text().replace(v4, f'{v4}, "[::1]:{server.port}"'))
    with server:
        ready = [e for e in server.events() if e.get("event") == "radmfa ready"]
    assert ready and ready[0]["listen"] == [f"127.0.0.1:{server.port}", f"[::1]:{server.port}"], server.log_text()
