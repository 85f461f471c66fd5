"""The collector collects rarely while any report is built and as before after the last one."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from exporter.gc_relax import RELAXED_THRESHOLD, gc_relaxed


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[tuple[int, ...]]:
    """Each test starts from the collector's current thresholds and leaves them as they were."""
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_nested_blocks_restore_after_the_outermost(default_thresholds: tuple[int, ...]) -> None:
    """An inner block's end keeps the raised threshold; the outer block's end restores it."""
    with gc_relaxed():
        with gc_relaxed():
            assert gc.get_threshold()[0] == RELAXED_THRESHOLD
        assert gc.get_threshold()[0] == RELAXED_THRESHOLD
    assert gc.get_threshold() == default_thresholds


async def test_interleaved_tasks_restore_after_the_last(
    default_thresholds: tuple[int, ...],
) -> None:
    """Two reports overlapping in time: the first to finish does not restore the threshold."""
    first_done = asyncio.Event()
    seen = []

    async def report(wait: asyncio.Event | None) -> None:
        with gc_relaxed():
            if wait is not None:
                await wait.wait()
            else:
                await asyncio.sleep(0)
                first_done.set()
            seen.append(gc.get_threshold()[0])

    await asyncio.gather(report(first_done), report(None))
    assert seen == [RELAXED_THRESHOLD, RELAXED_THRESHOLD]
    assert gc.get_threshold() == default_thresholds


def test_the_collector_still_collects_inside() -> None:
    """The collector stays on: enough allocations inside a block still set off a collection."""
    collections = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with gc_relaxed():
            assert gc.isenabled()
            kept: list[list[int]] = [[] for _ in range(3 * RELAXED_THRESHOLD)]
    finally:
        gc.callbacks.remove(count)
    assert kept
    assert collections


def test_a_collector_set_never_to_collect_stays_so() -> None:
    """Threshold 0 (collection switched off) is left alone inside and after a block."""
    gc.set_threshold(0)
    with gc_relaxed():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


def test_the_thresholds_return_when_the_block_raises(
    default_thresholds: tuple[int, ...],
) -> None:
    """An error inside the block still restores the thresholds."""
    with pytest.raises(RuntimeError), gc_relaxed():
        raise RuntimeError("report failed")
    assert gc.get_threshold() == default_thresholds
