"""mobigen.serving."""
