"""mobigen.conditions."""
