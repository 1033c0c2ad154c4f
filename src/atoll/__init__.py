"""atoll: a runtime for fleets of AI coding agents on machines a team owns."""

__version__ = "0.1.0"
