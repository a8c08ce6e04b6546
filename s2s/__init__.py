"""s2s: source-to-source automatic differentiation for numerical Python.

The transforms follow JAX's API: ``jvp`` and ``jit`` here, with ``source``
to read the code any transform generates and ``defjvp`` to give a function
a derivative rule of your own.
"""

from . import errors
from .api import jit, jvp, source
from .rules.registry import defjvp

__all__ = ["defjvp", "errors", "jit", "jvp", "source"]
__version__ = "0.1.0"
