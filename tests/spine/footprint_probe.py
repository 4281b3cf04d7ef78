"""Start-up path of ``edge-agent run`` up to the drivers, then print ``sys.modules``.

``python -m tests.spine.footprint_probe CONFIG`` does what ``run`` does before the network:
parse the CLI, load and check the config, build the agent (outbox, forwarder, supervisor),
open the outbox file and construct every configured driver. It prints the names of the
loaded top-level packages as one JSON list, so a test (tests/spine/test_footprint.py) and
the footprint bench can see what a configuration pulls in without a broker or devices.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def _build(config: str) -> None:
    from agent.app import Agent
    from agent.cli import build_parser
    from agent.config import load_config

    build_parser()  # the CLI's own imports, as ``edge-agent run`` makes them
    agent = Agent(load_config(config))
    await agent.outbox.open()
    try:
        for driver in agent.loaded.config.drivers:
            agent._make_driver(driver)
    finally:
        await agent.outbox.close(timeout=5.0)
        agent.context.shared.close_all()


def main() -> None:
    asyncio.run(_build(sys.argv[1]))
    print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))


if __name__ == "__main__":
    main()
