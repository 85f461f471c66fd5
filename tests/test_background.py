"""``in_background``: the task runs during the block and has finished when the block exits."""

from __future__ import annotations

import asyncio

from exporter.background import in_background


async def test_the_task_runs_during_the_block_and_is_over_after_it() -> None:
    started = asyncio.Event()
    cleaned_up: list[bool] = []

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            cleaned_up.append(True)

    async with in_background(work(), name="test-work"):
        await asyncio.wait_for(started.wait(), timeout=5)
        assert cleaned_up == []
        assert any(task.get_name() == "test-work" for task in asyncio.all_tasks())
    assert cleaned_up == [True]
    assert all(task.get_name() != "test-work" for task in asyncio.all_tasks())
