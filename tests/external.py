"""Finding the real external tools, or saying clearly why a test cannot run without them.

A missing tool skips its tests with the install command, except where a run must not skip
them: under CI (``CI=true``) or with the tool family's variable set to 1
(``USAGE_METRICS_REQUIRE_PROMTOOL`` for the Prometheus tools, ``USAGE_METRICS_REQUIRE_BROWSER``
for Chromium), where the skip becomes a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE_VARIABLE = "USAGE_METRICS_REQUIRE_PROMTOOL"
BROWSER_VARIABLE = "USAGE_METRICS_REQUIRE_BROWSER"


def require_tool(
    name: str, package: str = "prometheus", *, variable: str = REQUIRE_VARIABLE
) -> str:
    """Path of ``name``; skip when missing, or fail under CI or when ``variable`` is 1."""
    found = shutil.which(name)
    if found is not None:
        return found
    reason = f"{name} not installed: apt-get install {package}"
    if os.environ.get(variable) == "1":
        pytest.fail(f"{reason} ({variable}=1 requires it)")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true requires it)")
    pytest.skip(reason)


# Alert runs allocate for every rule at every evaluation step; a collection at 4x the live heap
# instead of 2x saves about a sixth of their CPU for about 250 MB more per run.
PROMTOOL_GOGC = "400"
PROMTOOL_TIMEOUT_SECONDS = 840


def promtool_test_rules(path: Path) -> subprocess.CompletedProcess[str]:
    """``promtool test rules path``: its output, whether it passed or not."""
    return subprocess.run(
        [require_tool("promtool", "prometheus"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "GOGC": PROMTOOL_GOGC},
    )
