"""Finding the real Prometheus tools, or saying clearly why a test cannot run without them."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_VARIABLE = "USAGE_METRICS_REQUIRE_PROMTOOL"


def require_tool(name: str) -> str:
    """Path of ``name``; skip when missing, or fail when the variable says it is required."""
    found = shutil.which(name)
    if found is not None:
        return found
    reason = f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager)"
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason}; {REQUIRE_VARIABLE}=1 requires it")
    pytest.skip(reason)
