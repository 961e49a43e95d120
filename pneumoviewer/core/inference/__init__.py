"""Model directory format, model construction, devices and the inference engine (torch)."""
