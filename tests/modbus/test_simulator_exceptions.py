"""The simulator answers like a controller: exception 02 for unmapped addresses, 01 for
function codes it does not serve (issue 11 finding 4)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from drivers.modbus.client import LinkSettings, ModbusLink
from drivers.modbus.errors import ExceptionReplyError
from tests.modbus.harness import simulated_bus

READS = {
    "holding register far outside the GB box block (0x0100) -> exception 02": (
        "holding",
        0x0100,
        1,
        2,
    ),
    "block running past the end of the map (0x0018-0x0027) -> exception 02": (
        "holding",
        0x0018,
        16,
        2,
    ),
    "input registers, a table the GB box does not have -> exception 02": ("input", 0x0000, 2, 2),
}


@pytest.mark.parametrize(("table", "address", "count", "code"), READS.values(), ids=READS.keys())
def test_unmapped_reads_get_exception(table: str, address: int, count: int, code: int) -> None:
    asyncio.run(_read_unmapped(table, address, count, code))


async def _read_unmapped(table: str, address: int, count: int, code: int) -> None:
    async with simulated_bus("gb-monitor-box", ["normal"]) as bus:
        link = ModbusLink(LinkSettings(transport="tcp", timeout_s=2.0, port=bus.running.port))
        await link.connect()
        try:
            with pytest.raises(ExceptionReplyError) as err:
                await link.read(1, table, address, count)
            assert err.value.code == code
            assert len(await link.read(1, "holding", 0x0000, 0x1C)) == 0x1C  # mapped: fine
        finally:
            link.close()


FUNCTIONS = {
    "write single register (FC06): a monitored controller refuses writes -> exception 01": (
        bytes([0x06, 0x00, 0x02, 0x00, 0x01])
    ),
    "user-defined function code 0x41 -> exception 01": bytes([0x41, 0x00]),
}


@pytest.mark.parametrize("pdu", FUNCTIONS.values(), ids=FUNCTIONS.keys())
def test_unsupported_functions_get_exception_01(pdu: bytes) -> None:
    asyncio.run(_raw_request(pdu))


async def _raw_request(pdu: bytes) -> None:
    async with simulated_bus("gb-monitor-box", ["normal"]) as bus:
        reader, writer = await asyncio.open_connection("127.0.0.1", bus.running.port)
        try:
            # Raw MBAP frame: transaction 7, protocol 0, length, unit 1, then the PDU.
            writer.write(struct.pack(">HHHB", 7, 0, len(pdu) + 1, 1) + pdu)
            await writer.drain()
            head = await asyncio.wait_for(reader.readexactly(7), 5)
            _, _, length, _ = struct.unpack(">HHHB", head)
            body = await asyncio.wait_for(reader.readexactly(length - 1), 5)
            assert body == bytes([pdu[0] | 0x80, 0x01])
        finally:
            writer.close()
            await writer.wait_closed()
