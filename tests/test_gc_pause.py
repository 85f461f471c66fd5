"""The collector pauses while any report is being built and resumes after the last one."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from exporter.gc_pause import gc_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    """Each test starts with the collector on and leaves it on."""
    gc.enable()
    yield
    gc.enable()


def test_nested_blocks_resume_after_the_outermost() -> None:
    """An inner block's end leaves the collector paused; the outer block's end resumes it."""
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


async def test_interleaved_tasks_resume_after_the_last() -> None:
    """Two reports overlapping in time: the first to finish does not resume the collector."""
    first_done = asyncio.Event()
    states = []

    async def report(wait: asyncio.Event | None) -> None:
        with gc_paused():
            if wait is not None:
                await wait.wait()
            else:
                await asyncio.sleep(0)
                first_done.set()
            states.append(gc.isenabled())

    await asyncio.gather(report(first_done), report(None))
    assert states == [False, False]
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    """A process that turned the collector off keeps it off after a block."""
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_the_collector_resumes_when_the_block_raises() -> None:
    """An error inside the block still resumes the collector."""
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("report failed")
    assert gc.isenabled()
