"""The vidrd-bench test suite (a regular package, so `tests.*` imports resolve here even where another
installed distribution ships a top-level `tests` package, as torch-fidelity 0.4.0's wheel does)."""
