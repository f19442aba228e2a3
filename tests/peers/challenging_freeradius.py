"""A FreeRADIUS upstream that runs its own challenge flow, as RSA SecurID's
next-token / new-PIN mode or an upstream OTP does.

The site is plain unlang in `authorize`: a user listed in `flows` answers the
right password with an Access-Challenge carrying FreeRADIUS's own State and a
Reply-Message; each answer must come back with that State and the expected
text as User-Password, and the last one is accepted with `accept_reply`
items. Anything else is rejected. Users not in `flows` go through the usual
users file and PAP, so the same instance serves plain logins too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.freeradius import FreeRadius, quote


@dataclass(frozen=True)
class ChallengeFlow:
    """``password`` opens the flow; each of ``steps`` is (prompt, expected answer)."""

    password: str
    steps: Sequence[tuple[str, str]]
    accept_reply: Mapping[str, str] = field(default_factory=dict)


def flow_state(user: str, step: int) -> str:
    """The State FreeRADIUS sends for step ``step`` of ``user``'s flow (hex octets)."""
    return "0x" + f"upstream-{user}-{step}".encode().hex()


def _flow_lines(user: str, flow: ChallengeFlow) -> list[str]:
    lines = [f"if (&User-Name == {quote(user)}) {{"]
    expected = [(None, flow.password), *((flow_state(user, i), answer) for i, (_, answer) in
                                          enumerate(flow.steps))]
    for index, (state, password) in enumerate(expected):
        keyword = "if" if index == 0 else "elsif"
        state_test = "!&State" if state is None else f"&State == {state}"
        lines.append(f" {keyword} ({state_test} && &User-Password == {quote(password)}) {{")
        if index < len(flow.steps):
            prompt = flow.steps[index][0]
            lines += ["  update reply {", f"   &Reply-Message := {quote(prompt)}",
                      f"   &State := {flow_state(user, index)}", "  }",
                      "  update control {", "   &Response-Packet-Type := Access-Challenge", "  }",
                      "  handled"]
        else:
            lines += ["  update reply {", *(f"   &{k} := {quote(v)}" for k, v in flow.accept_reply.items()),
                      "  }", "  update control {", "   &Auth-Type := Accept", "  }"]
        lines.append(" }")
    lines += [" else {", "  reject", " }", "}"]
    return lines


class ChallengingFreeRadius(FreeRadius):
    """FreeRadius whose site challenges the users in ``flows`` (see the module)."""

    def __init__(self, *args: object, flows: Mapping[str, ChallengeFlow], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.flows = dict(flows)

    def _write_config(self) -> Path:
        raddb = super()._write_config()
        site = raddb / "sites-enabled" / "radmfa_test"
        text = site.read_text()
        branches: list[str] = []
        for index, (user, flow) in enumerate(self.flows.items()):
            lines = _flow_lines(user, flow)
            if index:
                lines[0] = "els" + lines[0]
            branches += lines
        if branches:
            usual = text.split("authorize {\n", 1)[1].split("}\n", 1)[0].splitlines()
            branches += ["else {", *(f" {line.strip()}" for line in usual), "}"]
            text = text.replace(
                "authorize {\n" + "\n".join(usual) + "\n}\n",
                "authorize {\n" + "\n".join(f" {line}" for line in branches) + "\n}\n", 1)
        site.write_text(text)
        return raddb
