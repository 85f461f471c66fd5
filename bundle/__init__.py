"""The Prometheus and Grafana bundle of usage-metrics, generated from one settings object."""

from bundle.outputs import render_all
from bundle.settings import Settings

__all__ = ["Settings", "render_all"]
