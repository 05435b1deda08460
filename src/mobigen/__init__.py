"""mobigen: distributed, controllable mobile text-to-image generation (Kong et al., IEEE TMC 2025).

Importing the package is cheap: heavy dependencies (torch, diffusers, TFLite) load
only inside the functions that need them.
"""

__version__ = "0.1.0"
