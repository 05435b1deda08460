"""mobigen.generation."""
