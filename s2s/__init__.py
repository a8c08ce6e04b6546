"""s2s: source-to-source automatic differentiation for numerical Python.

The transforms follow JAX's API: ``jvp`` and ``jit`` here, with ``source``
to read the code any transform generates.
"""

from . import errors
from .api import jit, jvp, source

__all__ = ["errors", "jit", "jvp", "source"]
__version__ = "0.1.0"
