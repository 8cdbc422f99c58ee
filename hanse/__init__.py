"""Hanse kernel: the event backbone and service wiring every department shares."""

__version__ = "0.1.0"
