"""Remote ``snapshot``: a camera's last sampled frame with every person blurred.

The image work is vision/snapshot.py's. It is imported only when a snapshot is asked of a
configured camera, so a gateway without cameras never loads OpenCV or numpy for it
(issue 19's footprint rule).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

from agent.remote.errors import CommandError
from agent.remote.models import SnapshotRequest, SnapshotResult
from agent.supervisor import Supervisor


async def take_snapshot(req: SnapshotRequest, supervisor: Supervisor) -> SnapshotResult:
    cfg = next((c for c in supervisor.configs if c.name == req.camera), None)
    if cfg is None or getattr(cfg, "kind", None) != "camera":
        raise CommandError("refused", f"no camera named {req.camera!r} on this gateway")
    from vision.snapshot import is_camera, last_sample, masked_still

    driver = supervisor.drivers.get(req.camera)
    if driver is None or not is_camera(driver):
        raise CommandError("refused", f"camera {req.camera!r} is not running")
    sample = last_sample(driver)  # type: ignore[arg-type]  # is_camera checked the type
    if sample is None:
        raise CommandError("refused", f"camera {req.camera!r} has no sampled frame yet")
    try:
        still = await asyncio.to_thread(masked_still, *sample, req.max_width, req.max_bytes)
    except ValueError as exc:  # cannot fit max_bytes, or the encoder refused the frame
        raise CommandError("failed", f"snapshot of {req.camera!r} failed: {exc}") from None
    return SnapshotResult(
        camera=req.camera,
        frame_width=still.frame_width,
        frame_height=still.frame_height,
        age_s=still.age_s,
        bytes=len(still.jpeg),
        sha256=hashlib.sha256(still.jpeg).hexdigest(),
        jpeg_base64=base64.b64encode(still.jpeg).decode(),
        people_masked=still.people,
    )
