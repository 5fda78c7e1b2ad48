"""vidrd-bench: the VidRD UCF-101 text-to-video benchmark (generation, FVD, IS, tables, CI reports)."""

__version__ = "0.1.0"
