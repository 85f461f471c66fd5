"""The app starts on both stores and ingests a batch."""

from typing import Any

from aiohttp.test_utils import TestClient

from tests.support import T0, iso


async def test_ingest_round_trip(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """A point event is stored once; its replay adds nothing."""
    body = {"events": [{"user_id": "u1", "category": "ide", "time": iso(T0)}]}
    first = await client.post("/api/v1/activity", json=body, headers=admin_headers)
    assert first.status == 200, await first.text()
    assert await first.json() == {"accepted": 1, "minutes": 1, "new_minutes": 1}
    again = await client.post("/api/v1/activity", json=body, headers=admin_headers)
    assert await again.json() == {"accepted": 1, "minutes": 1, "new_minutes": 0}
