"""The `vidrd-bench` command line: a thin click layer over one module per concern.

`base` holds the group and the shared options; each command module registers its commands on it when imported.
"""

from vidrd_bench.cli import models, reporting, scoring  # noqa: F401 (registers the commands)
from vidrd_bench.cli.base import main

__all__ = ["main"]
