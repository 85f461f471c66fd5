"""usage-metrics: who uses the developer platform, how much, and did that just drop."""

__version__ = "0.1.0"
