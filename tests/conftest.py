"""Shared fixtures: where ../shared lives, and a guard against leaked tasks/threads/fds."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract_check import seen_types, take_violations, warm_up
from tests.shared_data import shared_path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not (path / "models").is_dir():
        pytest.fail(f"shared data not found at {path}; set EDGE_AGENT_SHARED")
    return path


# ---------------------------------------------------------------------------------------
# Leak guard: a test that leaves asyncio tasks, threads or file descriptors behind fails.
# Like pymodbus's own suite: compare before/after, after a short grace for clean-ups that
# finish asynchronously (a thread joining, a socket closed by a finaliser).

GRACE_S = 2.0
# Threads that live for the process by design, started on first use by libraries.
LONG_LIVED_THREADS = (
    "pydevd.",  # debugger, when attached
    "ThreadPoolExecutor-",  # concurrent.futures' shared pools used by libraries
)
# Files libraries open on import and keep for the process (onnxruntime's telemetry db).
LONG_LIVED_FDS = ("/.onnxruntime/",)


def _fds() -> dict[int, str]:
    out: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the fd listdir itself used
    return out


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def _settled(check: Callable[[], list[str]]) -> list[str]:
    deadline = time.monotonic() + GRACE_S
    while True:
        gc.collect()
        found = check()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def no_leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    gc.collect()
    fds_before = _fds()
    threads_before = _threads()
    leaked_tasks: list[str] = []
    real_run = asyncio.run

    async def checked(main: Coroutine[Any, Any, Any]) -> Any:
        result = await main
        # What the coroutine left running; asyncio.run would cancel it silently.
        others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        if others:
            _, pending = await asyncio.wait(others, timeout=GRACE_S)
            leaked_tasks.extend(repr(t) for t in pending)
        return result

    def run(main: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
        return real_run(checked(main), **kwargs)

    monkeypatch.setattr(asyncio, "run", run)
    yield
    monkeypatch.undo()

    def new_threads() -> list[str]:
        return [
            repr(t)
            for t in _threads() - threads_before
            if not t.name.startswith(LONG_LIVED_THREADS)
        ]

    def new_fds() -> list[str]:
        now = _fds()
        return [
            f"fd {fd} -> {now[fd]}"
            for fd in sorted(set(now) - set(fds_before))
            if not any(p in now[fd] for p in LONG_LIVED_FDS)
        ]

    problems = [f"task left running: {t}" for t in leaked_tasks]
    problems += [f"thread left running: {t}" for t in _settled(new_threads)]
    problems += [f"file descriptor left open: {f}" for f in _settled(new_fds)]
    if problems:
        pytest.fail("test leaked:\n  " + "\n  ".join(problems), pytrace=False)


# ---------------------------------------------------------------------------------------
# The platform contract: every event a test received (from the broker, or in a ListSink)
# was validated against docs/contract's schemas as it arrived (tests/contract_check.py);
# a test during which one did not meet them fails here.


@pytest.fixture(scope="session", autouse=True)
def contract_validators() -> None:
    warm_up()


@pytest.fixture(autouse=True)
def contract_violations(no_leaks: None, contract_validators: None) -> Iterator[None]:
    # After no_leaks is set up, so that this ends first: it lets go of the test's
    # receivers (tests/contract_check.py holds them until then) before the leak check.
    take_violations()
    yield
    found = take_violations()
    if found:
        shown = "\n  ".join(found[:20])
        more = f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
        pytest.fail(f"events broke the platform contract:\n  {shown}{more}", pytrace=False)


# ---------------------------------------------------------------------------------------
# A failed test whose Mosquitto dropped messages to a subscriber says so beside its error:
# events missing at the test's subscriber were then lost by the broker's queue limit, after
# the gateway had its PUBACKs (tests/broker.py sets that queue deep; this is how it showed).

BROKER_DROPPED = "Outgoing messages are being dropped"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if not report.failed or tmp is None:
        return
    for log in sorted(Path(tmp).rglob("mosquitto-*.log")):
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if BROKER_DROPPED in ln]
        if lines:
            report.sections.append(
                (
                    "test broker",
                    f"{log}: Mosquitto dropped messages to a subscriber that fell behind "
                    f"({len(lines)} times, first: {lines[0]!r}); events missing at the "
                    "subscriber may be the broker's loss, not the agent's",
                )
            )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How much of the contract this run exercised: types checked, registered types not."""
    from agent.event_types import EVENT_TYPES

    seen = seen_types()
    if not seen:
        return
    checked = sorted(t for t in EVENT_TYPES if t in seen)
    unseen = sorted(t for t in EVENT_TYPES if t not in seen)
    terminalreporter.write_line(
        f"contract: {sum(seen.values())} events checked, {len(checked)} of "
        f"{len(EVENT_TYPES)} registered types seen"
        + (f"; not seen in this run: {', '.join(unseen)}" if unseen else "")
    )
