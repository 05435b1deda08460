"""mobigen.experiments."""
