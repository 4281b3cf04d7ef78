"""mbpoll (Debian package, deploy/dev-setup.sh) against the simulator: what a trainee sees
reading a wrong address is the controller's exception 02 (issue 11 acceptance)."""

from __future__ import annotations

import asyncio
import shutil

from tests.modbus.harness import simulated_bus


async def _mbpoll(port: int, reference: int) -> tuple[int, str]:
    mbpoll = shutil.which("mbpoll")
    assert mbpoll, "mbpoll missing: run deploy/dev-setup.sh"
    proc = await asyncio.create_subprocess_exec(
        mbpoll, "-m", "tcp", "-p", str(port), "-a", "1", "-t", "4", "-0", "-r", str(reference),
        "-c", "1", "-1", "-o", "2", "127.0.0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(errors="replace")


def test_mbpoll_reading_an_unmapped_address_gets_illegal_data_address() -> None:
    async def main() -> tuple[tuple[int, str], tuple[int, str]]:
        async with simulated_bus("gb-monitor-box", ["normal"]) as bus:
            return await _mbpoll(bus.running.port, 0x0100), await _mbpoll(bus.running.port, 0)

    (code, out), (ok_code, ok_out) = asyncio.run(main())
    assert code != 0 and "illegal data address" in out.lower(), out
    assert ok_code == 0 and "[0]:" in ok_out, ok_out  # a mapped address reads fine
