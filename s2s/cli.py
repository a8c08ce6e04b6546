"""``s2s show FILE.py:FUNC --mode grad`` prints generated code; ``s2s demo`` runs the demo; ``s2s cache info``
and ``s2s cache clear`` show and empty the cache of generated code."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

import numpy as np

from . import api
from .errors import S2SError


def load_function(spec: str):
    """``path/to/file.py:func`` or ``package.module:func`` → the function object."""
    if ":" not in spec:
        raise LookupError(f"expected FILE.py:FUNC or module:FUNC, got {spec!r}")
    where, _, qualname = spec.rpartition(":")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise LookupError(f"no such file: {where}")
        sys.path.insert(0, str(path.resolve().parent))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise LookupError(f"cannot import {where}: {e}") from None
    obj = module
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise LookupError(f"{where} has no function {qualname!r}")
        obj = getattr(obj, part)
    return obj


def _argnums(text):
    return tuple(int(n) for n in text.split(",")) if text else None


def _in_axes(text):
    axes = tuple(None if a.strip() == "None" else int(a) for a in text.split(","))
    return axes[0] if len(axes) == 1 else axes


def _examples(ndims, in_axes):
    """Stand-in arguments with ``ndims`` dimensions (one more where ``vmap`` maps over them)."""
    if ndims is None:
        return None
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(ndims)
    total = [n + (a is not None) if in_axes is not None else n for n, a in zip(ndims, axes)]
    return tuple(np.zeros((1,) * n) if n else 0.0 for n in total)


#: The transforms the cuda target runs one example per thread, by ``--mode``.
_PER_EXAMPLE = {"primal": None, "vmap": None, "grad": api.grad, "value_and_grad": api.value_and_grad,
                "jacfwd": api.jacfwd, "jacrev": api.jacrev, "hessian": api.hessian}


def _kernel_source(fun, args) -> str:
    """``s2s show --target cuda``: the kernel for ``vmap`` of the transform, over scalar examples."""
    if args.mode not in _PER_EXAMPLE:
        raise ValueError(f"--target cuda shows {', '.join(_PER_EXAMPLE)}, not {args.mode}")
    nparams = len(inspect.signature(fun).parameters)
    axes = args.in_axes if isinstance(args.in_axes, tuple) else (args.in_axes,) * nparams
    examples = tuple(np.zeros(1) if a is not None else 0.0 for a in axes)
    transform = _PER_EXAMPLE[args.mode]
    per_example = fun if transform is None else transform(fun, 0 if args.argnums is None else args.argnums)
    batched = api.vmap(per_example, args.in_axes)
    return api.source(batched, target="cuda", args=examples)


def _cache_report(action) -> str:
    from . import cache
    from .modules import cache_dir

    if action == "clear":
        return f"removed {cache.clear(cache_dir())} generated modules and their compiled code from {cache_dir()}"
    found = cache.info(cache_dir())
    return (f"{found['directory']}: {found['modules']} generated modules, {found['bytes'] / 2 ** 20:.1f} MB "
            f"with their compiled code (limit {found['limit'] / 2 ** 20:.0f} MB, $S2S_CACHE_MAX_MB)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="s2s", description="Source-to-source AD for numerical Python.")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print the generated source of a transformed function")
    show.add_argument("target", metavar="FILE.py:FUNC", help="a function, as path/to/file.py:name or module:name")
    show.add_argument("--mode", choices=api.MODES + api.TRANSFORMS, default="jvp",
                      help="the transform (default: jvp); linearize shows the forward and linear halves, "
                           "transpose the linear half and its transpose, vjp and grad the forward half and "
                           "the transpose; vmap the batched function")
    show.add_argument("--argnums", type=_argnums, default=None, metavar="I,J",
                      help="differentiate only these positional arguments (default: all; 0 for jacfwd, "
                           "jacrev and hessian)")
    show.add_argument("--in-axes", type=_in_axes, default=0, metavar="A,B",
                      help="vmap: the axis of each argument to map over, or None (default: 0 for all)")
    show.add_argument("--ndims", type=_argnums, default=None, metavar="N,M",
                      help="the number of dimensions of each argument (of one example, for vmap): code "
                           "specialised to them, vectorized where it can be (default: code for any)")
    show.add_argument("--target", dest="on", choices=("cpu", "cuda"), default="cpu",
                      help="cuda: the kernel and device functions of vmap of the transform (primal, grad, "
                           "value_and_grad, jacfwd, jacrev, hessian) over per-example scalar arguments")
    commands.add_parser("demo", help="show and run the derivative of an example function")
    cached = commands.add_parser("cache", help="the cache of generated and compiled code (kept within "
                                               "$S2S_CACHE_MAX_MB megabytes, least recently used out first)")
    cached.add_argument("action", choices=("info", "clear"),
                        help="info: where it is and what it holds; clear: empty it")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from . import demo

            demo.main()
            return 0
        if args.command == "cache":
            print(_cache_report(args.action))
            return 0
        fun = load_function(args.target)
        if args.on == "cuda":
            print(_kernel_source(fun, args), end="")
            return 0
        examples = _examples(args.ndims, args.in_axes if args.mode == "vmap" else None)
        print(api.source(fun, mode=args.mode, argnums=args.argnums, args=examples, in_axes=args.in_axes), end="")
        return 0
    except (LookupError, S2SError, TypeError, ValueError) as e:
        print(f"s2s: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
