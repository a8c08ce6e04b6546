"""Primitive rules: one registry (``registry``), one module per family of primitives.

Templates name the tangent of parameter ``x`` as ``x_dot`` and the primitive's
result as ``ans``; those names are bound when a template is instantiated.
"""
