"""``[metrics]``: ``GET /metrics`` for Prometheus, on its own listen address."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from radmfa.config.reader import HostPort, Section

DEFAULT_PORT = 9812


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``listen`` is separate from [http] (which providers must reach from
    outside) so that /metrics can be bound to a management network only."""

    listen: tuple[HostPort, ...] = ()  # none = no /metrics and nothing counted
    directory: Path | None = None  # the workers' shared metric files; None = a private directory radmfa makes


def parse_metrics(s: Section) -> MetricsConfig:
    directory = s.get("directory", str, "")
    metrics = MetricsConfig(
        listen=s.host_ports("listen", (), DEFAULT_PORT),
        directory=s.path_value("directory", Path(directory)) if directory else None,
    )
    if directory and not metrics.listen:
        s.fail("directory", "is used only with listen (no /metrics without it)")
    s.done()
    return metrics
