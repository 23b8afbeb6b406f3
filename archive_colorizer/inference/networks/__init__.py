"""inference/networks."""
