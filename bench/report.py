"""Machine facts, targets, and the two result files (JSON and a markdown table)."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# (key, comparison, target, what it is) in the order the table shows them; docs/benchmarks.md explains the targets.
# A target that is a key is that key's figure in the same run.
METRICS: tuple[tuple[str, str, float | str | None, str], ...] = (
    ("passthrough_ratio", ">=", 0.8, "radmfa / FreeRADIUS proxy, password-only Access-Requests"),
    ("radmfa_passthrough_rps", "", None, "Access-Requests/s through radmfa (radclient)"),
    ("freeradius_proxy_rps", "", None, "Access-Requests/s through the FreeRADIUS proxy (radclient)"),
    ("radclient_us_per_request_radmfa_arm", "", None,
     "radclient's CPU per request in radmfa's arm (it polls while it waits: bench.driver_polls)"),
    ("radclient_us_per_request_proxy_arm", "", None, "the same in the FreeRADIUS proxy's arm"),
    ("totp_logins_per_s", ">=", 3000, "complete two-step TOTP logins/s"),
    ("inline_logins_per_s", ">=", 5000, "one-request password,code logins/s"),
    ("loadgen_cpu_share", "", None, "load generator's CPU / (wall x cores) in the totp run"),
    ("added_p50_ms", "", None, "radmfa p50 - direct upstream p50 at 500 req/s"),
    ("added_p99_ms", "<=", 2, "radmfa p99 - direct upstream p99 at 500 req/s"),
    ("rss_mb_100k_pending", "<=", 200, "radmfa RSS (MiB, all processes) with 100k open challenges"),
    ("rss_mb_1m_users", "<=", 200,
     "radmfa RSS (MiB, all processes) with 1,000,000 enrolled users, after inline logins across them"),
    ("retransmit_ratio", ">=", "freeradius_retransmit_ratio",
     "TOTP logins/s with each packet sent 5x / sent once"),
    ("freeradius_retransmit_ratio", "", None,
     "the FreeRADIUS proxy's Access-Requests/s under the same storm / sent once"),
    ("upstream_requests_per_unique", "==", 1.0, "upstream datagrams per first leg in the storm"),
    ("passthrough_rps_log_info", "", None, "passthrough Access-Requests/s with [log] level = info"),
    ("log_info_cost", "", None, "throughput lost to level = info (1 - info/warning)"),
    ("passthrough_rps_metrics", "", None, "passthrough Access-Requests/s with [metrics] listen (GET /metrics)"),
    ("metrics_cost", "", None, "throughput lost to [metrics] (1 - with/without)"),
    ("metrics_requests_match", "==", 1, "requests + drops counted by /metrics in a load run == requests sent"),
    ("postgres_totp_logins_per_s", "", None, "complete two-step TOTP logins/s with the PostgreSQL store"),
    ("postgres_to_sqlite_ratio", ">=", 0.6, "postgres_totp_logins_per_s / totp_logins_per_s (SQLite), same run"),
    ("ldap_logins_per_s", "", None, "inline logins/s with slapd as the upstream (search-then-bind, StartTLS)"),
    ("ldap_login_p50_ms", "", None, "latency of an inline login with slapd as the upstream, at 100 logins/s"),
    ("ldap_login_p99_ms", "", None, "the same, p99"),
    ("fairness_quiet_answered", ">=", 0.99,
     "share of a quiet NAS's TOTP logins answered while another NAS floods 3,000 requests/s"),
    ("fairness_quiet_answered_overload", "", None,
     "the same while the other NAS floods 12,000 requests/s (beyond what radmfa answers here)"),
    ("local_logins_per_s", ">=", 50, "password-only logins/s with the local upstream (one argon2id verify each)"),
    ("quiet_nas_success_during_flood", ">=", 0.99,
     "share of a quiet NAS's local-password logins accepted while another NAS floods wrong passwords"),
)


def _run(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False, cwd=REPO)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _event_loop() -> str:
    """What radmfa's run_single picks: uvloop when it is installed."""
    try:
        return f"uvloop {metadata.version('uvloop')}"
    except metadata.PackageNotFoundError:
        return "asyncio"


def machine(workers: int) -> dict[str, Any]:
    sha = _run(["git", "rev-parse", "HEAD"])
    dirty = bool(_run(["git", "status", "--porcelain", "--", "server"]))
    freeradius = _run(["freeradius", "-v"]).splitlines()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "event_loop": _event_loop(),
        "freeradius": freeradius[0] if freeradius else "",
        "radmfa_git_sha": sha + ("+uncommitted changes in server/" if dirty else ""),
        "workers": workers,
    }


def met(value: Any, op: str, target: float | None) -> bool | None:
    if target is None or value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if op == ">=":
        return bool(value >= target)
    if op == "<=":
        return bool(value <= target)
    return bool(abs(value - target) < 0.005)


def _target(results: dict[str, Any], target: float | str | None) -> tuple[float | None, str]:
    """The target's value in this run and how the table shows it."""
    if isinstance(target, str):
        value = results.get(target)
        return value, f"`{target}`" + (f" ({_shown(value)})" if value is not None else "")
    return target, "—" if target is None else f"{target:g}"


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for key, op, target, _ in METRICS:
        if target is None:
            continue
        value, shown = _target(results, target)
        out[key] = {"target": f"{op} {shown}", "met": met(results.get(key), op, value)}
    return out


def write(doc: dict[str, Any], directory: Path, stem: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / f"{stem}.json", directory / f"{stem}.md"
    json_path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    md_path.write_text(markdown(doc))
    return json_path, md_path


def merged(path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (a run of some scenarios) laid over the results file at ``path``:
    its keys replace those of the same name, every other key is kept."""
    if not path.exists():
        return doc
    old = json.loads(path.read_text())
    old.setdefault("results", {}).update(doc["results"])
    details = old.setdefault("details", {})
    timings = {**details.get("scenario_s", {}), **doc.get("details", {}).get("scenario_s", {})}
    details.update(doc.get("details", {}))
    details["scenario_s"] = timings
    old.setdefault("merged_runs", []).append(
        {"scenarios": doc["scenarios"], "machine": doc["machine"], "warnings": doc.get("warnings", [])}
    )
    old["targets"] = targets(old["results"])
    rerun = tuple(f"{key}." for key in doc.get("details", {}) if key != "scenario_s")
    kept = [w for w in old.get("warnings", []) if not w.startswith(rerun)]  # those of the re-run scenarios go
    old["warnings"] = [*kept, *doc.get("warnings", [])]
    return old


def _shown(value: Any) -> str:
    if value is None:
        return "not run"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(doc: dict[str, Any]) -> str:
    results, m = doc["results"], doc["machine"]
    lines = [
        f"# radmfa benchmark ({'quick smoke run' if doc['settings']['quick'] else 'full run'})",
        "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · {m['memory_gib']} GiB · Python {m['python']}"
        f" · {m['event_loop']} · {m['freeradius']} · radmfa {m['radmfa_git_sha']}"
        f" · workers = {m['workers']}",
        "",
        "| metric | value | target | met? | what |",
        "|---|---:|---|---|---|",
    ]
    for key, op, target, what in METRICS:
        if key not in results:
            continue
        value, shown = _target(results, target)
        ok = met(results[key], op, value)
        shown_target = f"{op} {shown}" if target is not None else "—"
        verdict = "—" if ok is None else ("yes" if ok else "**no**")
        lines.append(f"| `{key}` | {_shown(results[key])} | {shown_target} | {verdict} | {what} |")
    lines += ["", "Settings: " + ", ".join(f"{k}={v}" for k, v in doc["settings"].items()), ""]
    if doc.get("warnings"):
        lines += ["Warnings:", *(f"* {w}" for w in doc["warnings"]), ""]
    lines.append("Details (per run, CPU shares of each process) are in the JSON file beside this one.")
    return "\n".join(lines) + "\n"
