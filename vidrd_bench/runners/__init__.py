"""What the commands run: generate, score, calibrate, bench, smoke and the weights doctor, over the plug-in packages."""
