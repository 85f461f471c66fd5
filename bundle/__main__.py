"""``python -m bundle [--settings FILE] [--out DIR] [--check]``: write or check the bundle."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bundle.outputs import render_all
from bundle.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    """Write every generated file under ``--out`` (default: the repository), or ``--check`` it."""
    parser = argparse.ArgumentParser(prog="python -m bundle", description=__doc__)
    parser.add_argument("--settings", type=Path, help="JSON, TOML or YAML file of overrides")
    parser.add_argument("--out", type=Path, default=ROOT, help="directory to write into")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 naming the files that differ; write nothing"
    )
    args = parser.parse_args(argv)
    settings = Settings.load(args.settings) if args.settings else Settings()
    out: Path = args.out
    # The runbook's hand-written text comes from the output directory when it has one.
    source = out if (out / "prometheus" / "RUNBOOK.md").exists() else ROOT
    stale = []
    for relative, content in render_all(settings, source).items():
        path = out / relative
        if path.exists() and path.read_text(encoding="utf-8") == content:
            continue
        stale.append(relative)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python -m bundle", file=sys.stderr)
        return 1
    for relative in stale:
        print(f"wrote {out / relative}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
