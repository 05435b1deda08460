"""mobigen.control."""
