"""Pure core: models, validation, parsing and classification. No I/O, no clock, no environment.

Nothing in this package may import subprocess, os-level process APIs, click or textual;
``tests/unit/test_layers.py`` enforces it.
"""
