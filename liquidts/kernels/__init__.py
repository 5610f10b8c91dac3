"""Fast paths for the liquid layers, each beside the plain PyTorch reference it is tested against."""
