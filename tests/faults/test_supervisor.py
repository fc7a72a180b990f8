"""The supervisor (app/restarter.py) as a real process over real child processes:
one that keeps exiting is restarted with growing pauses while the others keep running;
SIGTERM stops everything (SIGKILL for one that ignores SIGTERM); output stays
interleaved, each line under its process's name."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.restarter import Backoff, describe_exit
from config import PROJECT_ROOT

SCRIPT = """
import sys
from pathlib import Path
from app.restarter import Program, Supervisor
import asyncio

py = sys.executable
here = Path.cwd()
programs = [
    Program("steady", [py, "-c", "import time; print('steady up'); time.sleep(600)"], {}, here),
    Program("flaky", [py, "-c", "print('flaky up'); raise SystemExit(3)"], {}, here),
    Program(
        "stubborn",
        [py, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('stubborn up'); time.sleep(600)"],
        {},
        here,
    ),
]
sys.exit(asyncio.run(Supervisor(programs, sys.stdout, stop_timeout=1).run()))
"""


def test_backoff_doubles_to_a_minute_and_resets_after_a_stable_minute() -> None:
    backoff = Backoff()
    pauses = [backoff.pause_after(0.5) for _ in range(8)]
    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.pause_after(61) == 1  # it had run a minute: a fresh start
    assert backoff.pause_after(3) == 2
    assert describe_exit(-9) == "killed by SIGKILL" and describe_exit(3) == "exit code 3"


def _pids(log: str, name: str) -> list[int]:
    return [int(pid) for pid in re.findall(rf"\| {name} started, pid (\d+)", log)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_crashing_process_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    log_path = tmp_path / "supervisor.log"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with log_path.open("wb") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-c", SCRIPT],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(5)  # flaky: runs at 0 s, 1 s, 3 s (pauses of 1 s, then 2 s)
        logged = log_path.read_text()
        assert "flaky stopped (exit code 3); restarting in 1 s" in logged, logged
        assert "flaky stopped (exit code 3); restarting in 2 s" in logged, logged
        assert len(_pids(logged, "flaky")) >= 3
        [steady] = _pids(logged, "steady")  # started once, never stopped
        [stubborn] = _pids(logged, "stubborn")
        assert _alive(steady) and _alive(stubborn)
        assert "steady stopped" not in logged
        # Interleaved, each line under its name, with the time: "12:00:01 steady     | steady up"
        assert re.search(r"^\d\d:\d\d:\d\d steady +\| steady up$", logged, re.M), logged
        assert re.search(r"^\d\d:\d\d:\d\d flaky +\| flaky up$", logged, re.M), logged

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=15) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    logged = log_path.read_text()
    assert "steady stopped (killed by SIGTERM)" in logged, logged
    assert "stubborn did not stop in time; killing it" in logged
    assert "stubborn stopped (killed by SIGKILL)" in logged
    assert "every process has stopped" in logged
    time.sleep(0.2)
    assert not _alive(steady) and not _alive(stubborn)
