"""Finding the real Prometheus tools, or saying clearly why a test cannot run without them."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_VARIABLE = "USAGE_METRICS_REQUIRE_PROMTOOL"


def require_tool(name: str, package: str = "prometheus") -> str:
    """Path of ``name``; skip when missing, or fail when USAGE_METRICS_REQUIRE_PROMTOOL=1."""
    found = shutil.which(name)
    if found is not None:
        return found
    reason = f"{name} not installed: apt-get install {package}"
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason} ({REQUIRE_VARIABLE}=1 requires it)")
    pytest.skip(reason)
