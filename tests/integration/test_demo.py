"""The README's promise: the demo config runs, and `radmfa login` gets in with a code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyotp

from tests.peers.ports import free_udp_port

REPO = Path(__file__).resolve().parents[2]


def test_demo_then_login_with_a_code(tmp_path: Path):
    port = free_udp_port()
    for name in ("radmfa.toml", "clients.conf", "dictionary"):
        shutil.copy(REPO / name, tmp_path / name)
    cfg = tmp_path / "radmfa.toml"
    cfg.write_text(cfg.read_text().replace('listen = ["127.0.0.1:1812"]', f'listen = ["127.0.0.1:{port}"]'))
    assert f"127.0.0.1:{port}" in cfg.read_text()
    out = tmp_path / "demo.out"
    with open(out, "wb") as sink:
        demo = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "radmfa", "demo", "--config", str(cfg)], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        secret = None
        deadline = time.monotonic() + 60  # generous: a busy machine
        while time.monotonic() < deadline:
            m = re.search(r"secret=([A-Z2-7]+)", out.read_text())
            if m and "radmfa ready" in out.read_text():  # logged once the socket is bound
                secret = m.group(1)
                break
            assert demo.poll() is None, out.read_text()
            time.sleep(0.1)
        assert secret, out.read_text()
        code = pyotp.TOTP(secret).now()
        login = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "radmfa", "login", "demo", "--config", str(cfg)],
            input=f"demo-password\n{code}\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert login.returncode == 0, login.stdout + login.stderr
        assert "Access-Accept" in login.stdout
        wrong = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "radmfa", "login", "demo", "--config", str(cfg)],
            input="not-the-password\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert wrong.returncode == 1 and "Access-Reject" in wrong.stdout
    finally:
        demo.terminate()
        demo.wait(60)
    # the seed is stored encrypted, never in the clear
    db = (tmp_path / "var" / "radmfa.db").read_bytes()
    import base64

    assert base64.b32decode(secret) not in db
    assert (tmp_path / "var" / "radmfa.key").stat().st_mode & 0o077 == 0
