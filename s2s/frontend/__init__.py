"""Front end: user functions to core form (parse, resolve names, normalize)."""
