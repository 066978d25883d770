"""VideoPure: diffusion-based adversarial purification for video recognition (reproduction)."""

__version__ = "0.1.0"
