"""FVD (I3D) and IS (C3D): detectors and their registry, feature extraction, statistics and formulas (runners: vidrd_bench/runners/score.py)."""
