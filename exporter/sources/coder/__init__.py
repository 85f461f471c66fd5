"""Reading a Coder v2 deployment's own database: its activity and its directory."""

from exporter.sources.coder.source import CoderSource, create_coder_engine

__all__ = ["CoderSource", "create_coder_engine"]
