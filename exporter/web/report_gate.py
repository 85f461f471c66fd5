"""``ReportGate``: a bound on activity reports running at once, with a bounded queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from exporter.errors import Busy

RETRY_AFTER_SECONDS = 2
"""What a refused report's ``Retry-After`` asks the client to wait."""


class ReportGate:
    """A semaphore with a bounded queue in front of it.

    At most ``running`` reports run at once and ``waiting`` more wait their turn in order; one
    beyond both is refused at once with ``Busy`` (503 and ``Retry-After``).
    """

    def __init__(self, *, running: int, waiting: int) -> None:
        self._turns = asyncio.Semaphore(running)
        self._capacity = running + waiting
        self.admitted = 0
        """Reports running or waiting now."""

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold a turn for the body of the ``async with``; raise ``Busy`` when the queue is full."""
        if self.admitted >= self._capacity:
            raise Busy(
                "Too many activity reports are running or waiting; try again shortly.",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self.admitted += 1
        try:
            async with self._turns:
                yield
        finally:
            self.admitted -= 1
