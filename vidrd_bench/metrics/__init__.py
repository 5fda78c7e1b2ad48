"""FVD (I3D) and IS (C3D): detectors, feature statistics, metrics and the score/stats runners."""
