"""`make bench`: resident load (through Telegram and bare Rasa), button load and the
dashboard / Open311 lists at a million tickets, measured in one run; writes
bench/results.json.

    .venv/bin/python -m bench.run [--residents 200] [--rate 30] [--skip-dashboard] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import postgres_admin_url
from config import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "bench" / "results.json"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=200, help="residents at the paced rate")
    parser.add_argument("--rate", type=float, default=30.0, help="offered messages per second")
    parser.add_argument(
        "--saturation-residents",
        type=int,
        default=120,
        help="residents for the stack-vs-bare-Rasa throughput runs (0: skip them)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="residents in flight at once in the throughput runs (stack and bare alike)",
    )
    parser.add_argument("--button-tickets", type=int, default=300, help="tickets to claim/rate")
    parser.add_argument("--button-concurrency", type=int, default=32)
    parser.add_argument("--tickets", type=int, default=1_000_000, help="dashboard table size")
    parser.add_argument("--requests", type=int, default=60, help="requests per dashboard view")
    parser.add_argument(
        "--fresh-data", action="store_true", help="regenerate the big table even if cached"
    )
    parser.add_argument(
        "--before-indexes",
        action="store_true",
        help="also measure the dashboard without migration 0006 (slow: rebuilds indexes)",
    )
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-buttons", action="store_true")
    parser.add_argument("--skip-dashboard", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def _log(text: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {text}", flush=True)


async def _stack_phases(args: argparse.Namespace, admin_url: str, workdir: Path) -> dict[str, Any]:
    from bench import buttons, load
    from bench.stack import describe, running_stack

    out: dict[str, Any] = {}
    _log("starting engine, action server and bot on a fresh database")
    async with running_stack(admin_url, workdir) as stack:
        _log("warm-up")
        await load.run_telegram(stack, residents=8, first_id=10_000, rate=None, concurrency=8)
        await load.run_rest(stack, residents=8, first_id=20_000, rate=None, concurrency=8)
        if not args.skip_load:
            _log(f"{args.residents} residents through Telegram at {args.rate} msg/s offered")
            paced = await load.run_telegram(
                stack,
                residents=args.residents,
                first_id=100_000,
                rate=args.rate,
                concurrency=args.residents,
            )
            _log("  " + describe(paced))
            out["telegram_paced"] = paced
            _log(f"{args.residents} residents through bare Rasa at {args.rate} msg/s offered")
            bare_paced = await load.run_rest(
                stack,
                residents=args.residents,
                first_id=200_000,
                rate=args.rate,
                concurrency=args.residents,
            )
            _log("  " + describe(bare_paced))
            out["bare_rasa_paced"] = bare_paced
            if args.saturation_residents:
                n, c = args.saturation_residents, args.concurrency
                _log(f"throughput: {n} residents, {c} at once, through Telegram")
                sat = await load.run_telegram(
                    stack, residents=n, first_id=300_000, rate=None, concurrency=c
                )
                _log("  " + describe(sat))
                _log(f"throughput: {n} residents, {c} at once, through bare Rasa")
                bare = await load.run_rest(
                    stack, residents=n, first_id=400_000, rate=None, concurrency=c
                )
                _log("  " + describe(bare))
                out["telegram_throughput"] = sat
                out["bare_rasa_throughput"] = bare
        if not args.skip_buttons:
            _log(f"buttons: {args.button_tickets} tickets claimed, started, done, rated")
            out["buttons"] = await buttons.run_buttons(
                stack, tickets=args.button_tickets, concurrency=args.button_concurrency
            )
            _log(f"  {out['buttons']['ops_per_s']} ops/s")
    return out


async def _dashboard_phase(args: argparse.Namespace, admin_url: str, workdir: Path) -> Any:
    from bench import dashboard

    return await dashboard.run_dashboard(
        admin_url,
        workdir,
        tickets=args.tickets,
        requests=args.requests,
        fresh=args.fresh_data,
        before_indexes=args.before_indexes,
        log=_log,
    )


def _headline(results: dict[str, Any]) -> dict[str, Any]:
    head: dict[str, Any] = {}
    load = results.get("load", {})
    if "telegram_paced" in load:
        head["p99_reply_s_at_30mps"] = load["telegram_paced"]["p99_s"]
    if "telegram_throughput" in load:
        stack = load["telegram_throughput"]["throughput_per_s"]
        bare = load["bare_rasa_throughput"]["throughput_per_s"]
        head["stack_vs_bare_rasa_throughput_ratio"] = round(stack / bare, 3) if bare else None
    if "buttons" in load:
        head["button_ops_per_s"] = load["buttons"]["ops_per_s"]
    dash = results.get("dashboard") or {}
    if "queue_p95_ms" in dash:
        head["dashboard_queue_p95_ms_1m"] = dash["queue_p95_ms"]
        head["open311_list_p95_ms_1m"] = dash["open311_p95_ms"]
    return head


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    results: dict[str, Any] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ro-bench-") as tmp:
        workdir = Path(tmp)
        with postgres_admin_url(workdir) as admin_url:
            if not (args.skip_load and args.skip_buttons):
                results["load"] = asyncio.run(_stack_phases(args, admin_url, workdir))
            if not args.skip_dashboard:
                results["dashboard"] = asyncio.run(_dashboard_phase(args, admin_url, workdir))
    document: dict[str, Any] = {
        **_headline(results),
        "cores": os.cpu_count(),
        # Other work on the machine competes for the same cores: 1-minute load averages.
        "loadavg_1m_start": round(load_before[0], 2),
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "details": results,
    }
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    _log(f"wrote {args.output}")
    for key in (
        "p99_reply_s_at_30mps",
        "stack_vs_bare_rasa_throughput_ratio",
        "button_ops_per_s",
        "dashboard_queue_p95_ms_1m",
        "open311_list_p95_ms_1m",
    ):
        _log(f"  {key} = {document.get(key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
