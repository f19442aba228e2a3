"""The request path compares enum members it reads from module globals
(core/model.py says why): each global is the member it names."""

from __future__ import annotations

from radmfa.core import challenge, controls, exemptions, pipeline
from radmfa.core.exemptions import Rule
from radmfa.core.model import Claimed, Phase, UserState, Verdict
from radmfa.factors import otp
from radmfa.service import fairness
from radmfa.service import radius as listener
from radmfa.store import sql


def test_each_global_is_its_member() -> None:
    assert pipeline._ACCEPT is Verdict.ACCEPT  # noqa: SLF001
    assert pipeline._CLAIM_ACCEPTED is Claimed.ACCEPTED and pipeline._CLAIM_TAKEN is Claimed.TAKEN  # noqa: SLF001
    assert challenge._CHALLENGE is Verdict.CHALLENGE and challenge._AWAITING_CODE is Phase.AWAITING_CODE  # noqa: SLF001
    assert controls._BLOCKED is UserState.BLOCKED and controls._BYPASS is Rule.BYPASS  # noqa: SLF001
    assert exemptions._BLOCKED is UserState.BLOCKED and exemptions._DISABLED is UserState.DISABLED  # noqa: SLF001
    assert otp._BLOCKED is UserState.BLOCKED  # noqa: SLF001
    assert sql._GONE is Claimed.GONE  # noqa: SLF001
    assert fairness._RUN is fairness.Admission.RUN  # noqa: SLF001
    assert listener._RUN is fairness.Admission.RUN and listener._REJECT is Verdict.REJECT  # noqa: SLF001
