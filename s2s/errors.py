"""Every error s2s raises on purpose, in one hierarchy.

Messages name the user's file, line and construct, and say what to do.
"""

from __future__ import annotations


class S2SError(Exception):
    """Base class of the errors s2s raises about the user's code."""


class SourceError(S2SError):
    """An error located in the user's source: ``file:line: message``."""

    def __init__(self, message: str, filename: str | None = None, lineno: int | None = None,
                 line: str | None = None):
        self.filename, self.lineno, self.line = filename, lineno, line
        where = ""
        if filename:
            where = f"{filename}:{lineno}: " if lineno else f"{filename}: "
        text = f"{where}{message}"
        if line:
            text += f"\n    {line.strip()}"
        super().__init__(text)


class UnsupportedSyntaxError(SourceError):
    """The function uses Python that s2s does not transform."""


class NoRuleError(SourceError):
    """A call needs a derivative (or other) rule that s2s does not have."""


class UnsupportedTransformError(SourceError, TypeError):
    """A transform of a transform that s2s does not build (reverse mode through a backward pass)."""


def located(error: SourceError, caller, obj) -> SourceError:
    """``error``, raised for a call of ``obj``, named where ``caller`` (a ``core.Function``) calls it, if it names
    no place yet."""
    if error.filename is not None:
        return error
    line = caller.line_calling(obj)
    return type(error)(str(error), caller.filename, line, caller.source_line(line))


class SourceUnavailableError(S2SError):
    """The function's source code cannot be read (defined in a REPL or by exec)."""


class CompileError(S2SError):
    """Numba could not compile generated code; names the generated and source lines."""


class DeviceError(SourceError):
    """Per-example code that a CUDA device cannot run (an allocation, NumPy the device lacks, a tape),
    refused before the kernel is compiled or launched."""


class NonLinearError(SourceError):
    """``linear_transpose`` was given a function that is not linear in its inputs."""


class BatchingError(SourceError):
    """``vmap`` cannot batch the function as asked (a statement the vectorized strategy cannot batch,
    an output that ``out_axes=None`` cannot leave unmapped)."""
