"""The VidRD generator: video UNet, temporal VAE, text encoder, DDIM and the iterative FNR/PNS/DSG sampler."""
