"""Running the stack's processes in the foreground and restarting each one that stops.

One failing part must not take the others down: a process that exits (a crash, a
kill -9, a bot that gave up) is started again after a pause that doubles from 1 s to
60 s and goes back to 1 s once a run has lasted a minute; the other processes keep
serving meanwhile. SIGINT/SIGTERM stop everything: SIGTERM to each process group, SIGKILL
after `stop_timeout`, at once on a second signal. Output is interleaved line by line,
each line prefixed with the time and the process name (honcho's printer).

Why not honcho's manager, circus or supervisord: docs/deployment.md ("Process supervision").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from honcho.colour import get_colours
from honcho.printer import Message, Printer

SUPERVISOR = "supervisor"
READ_CHUNK = 64 * 1024
# A "line" longer than this without a newline is printed in pieces.
MAX_LINE = 1024 * 1024


@dataclass(frozen=True)
class Program:
    """One process to keep running: its name in the logs, its command and environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path


@dataclass
class Backoff:
    """Pauses before restarts: `first`, doubling up to `cap`; back to `first` after a run
    that lasted `stable_after` seconds."""

    first: float = 1.0
    cap: float = 60.0
    stable_after: float = 60.0
    _next: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def pause_after(self, ran_for: float) -> float:
        """The pause before the next start, given how long the run that ended lasted."""
        if ran_for >= self.stable_after:
            self._next = self.first
        pause = self._next
        self._next = min(self._next * 2, self.cap)
        return pause


def describe_exit(code: int) -> str:
    """`exit code 1` or `killed by SIGKILL`, for the log."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Supervisor:
    """Keeps every program running until SIGINT/SIGTERM (or `stop()`), then stops them."""

    def __init__(
        self,
        programs: Sequence[Program],
        output: TextIO = sys.stdout,
        *,
        colour: bool | None = None,
        stop_timeout: float = 10.0,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        names = [program.name for program in programs]
        if len(set(names)) != len(names):
            raise ValueError("program names must be unique")
        self._programs = list(programs)
        width = max(len(name) for name in [SUPERVISOR, *names])
        use_colour = output.isatty() if colour is None else colour
        self._printer = Printer(output, width=width, colour=use_colour)
        colours = get_colours()
        self._colours = {name: next(colours) for name in names}
        self._stop_timeout = stop_timeout
        self._backoff = backoff
        self._stopping = asyncio.Event()
        self._force = asyncio.Event()

    def stop(self) -> None:
        """Ask every program to stop (a second call kills them at once)."""
        if self._stopping.is_set():
            self._force.set()
        self._stopping.set()

    async def run(self) -> int:
        """Run until stopped; 0 once every program has stopped."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            await asyncio.gather(*(self._keep(program) for program in self._programs))
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        self.say("every process has stopped")
        return 0

    def say(self, text: str) -> None:
        """A line of the supervisor's own in the interleaved log."""
        self._write(SUPERVISOR, text, None)

    def _on_signal(self, signum: int) -> None:
        self.say(f"{signal.Signals(signum).name}: stopping every process")
        self.stop()

    def _write(self, name: str, text: str, colour: str | None) -> None:
        self._printer.write(Message("line", text, datetime.datetime.now(), name, colour))

    async def _keep(self, program: Program) -> None:
        """Start `program`, and start it again whenever it stops, until stopping."""
        backoff = self._backoff()
        for run in itertools.count(1):
            if self._stopping.is_set():
                return
            started = time.monotonic()
            code = await self._run_once(program, run)
            if code is None or self._stopping.is_set():
                return
            pause = backoff.pause_after(time.monotonic() - started)
            self.say(f"{program.name} stopped ({describe_exit(code)}); restarting in {pause:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)

    async def _run_once(self, program: Program, run: int) -> int | None:
        """One run of `program`: its exit code, or None when it was stopped on request."""
        env = {**program.env, "PYTHONUNBUFFERED": "1"}
        try:
            process = await asyncio.create_subprocess_exec(
                *program.argv,
                env=env,
                cwd=program.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                # Its own process group: a terminal's Ctrl-C reaches the supervisor only,
                # which stops the processes in order; killpg reaches their children too.
                start_new_session=True,
            )
        except OSError as exc:
            self.say(f"{program.name} could not start: {exc}")
            return 127
        self.say(f"{program.name} started, pid {process.pid}" + (f", run {run}" if run > 1 else ""))
        assert process.stdout is not None
        pump = asyncio.create_task(self._pump(program.name, process.stdout))
        exited = asyncio.create_task(process.wait())
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        requested = not exited.done()
        if requested:
            await self._terminate(program.name, process, exited)
        # Whatever it left behind in its group (a worker, a child) goes with it.
        _signal_group(process.pid, signal.SIGKILL)
        try:
            await asyncio.wait_for(pump, 5)
        except TimeoutError:
            pump.cancel()
        code = process.returncode
        assert code is not None
        if requested:
            self.say(f"{program.name} stopped ({describe_exit(code)})")
            return None
        return code

    async def _terminate(
        self, name: str, process: asyncio.subprocess.Process, exited: asyncio.Task[int]
    ) -> None:
        _signal_group(process.pid, signal.SIGTERM)
        force = asyncio.create_task(self._force.wait())
        done, _ = await asyncio.wait(
            {exited, force}, timeout=self._stop_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        force.cancel()
        if exited not in done:
            self.say(f"{name} did not stop in time; killing it")
            _signal_group(process.pid, signal.SIGKILL)
            await exited

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        """Print the process's output line by line under its name."""
        colour = self._colours[name]
        pending = b""
        while chunk := await stream.read(READ_CHUNK):
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > MAX_LINE:
                lines.append(pending)
                pending = b""
            for line in lines:
                self._write(name, line.decode("utf-8", "replace").rstrip("\r"), colour)
        if pending:
            self._write(name, pending.decode("utf-8", "replace"), colour)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def supervise(programs: Sequence[Program], output: TextIO = sys.stdout) -> int:
    """Run the programs under a Supervisor in the foreground; the exit code."""
    return asyncio.run(Supervisor(programs, output).run())
