"""minescan: find surface mines in Sentinel-2 imagery and watch each one over time."""

__version__ = "0.1.0"
