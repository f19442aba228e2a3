"""Front ends other than the RADIUS listener, on the same pipeline."""
