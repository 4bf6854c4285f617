"""Feature pickles are data, not code: a restricted unpickler admits only plain containers and numpy arrays.

A pickle can name any importable callable and run it on load; feature directories get
shared between people, so loading one must never execute anything. Only the globals
numpy needs to rebuild arrays and scalars are admitted; dicts, lists, tuples, strings,
numbers, booleans and None need no globals at all.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from mer_builder.errors import InputError

_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    (f"numpy.{core}.{module}", name)
    for core in ("core", "_core")
    for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))
) | frozenset(
    {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("__builtin__", "bytes"), ("builtins", "bytes")}
)  # protocol 2 spells bytes objects through _codecs.encode and bytes()


class UnsafePickleError(InputError, pickle.UnpicklingError):
    """The pickle references something other than plain data."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: str):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module == "numpy" and name.endswith("DType"):  # numpy>=2 pickles dtypes via their DType classes
            cls = super().find_class(module, name)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                return cls
        raise UnsafePickleError(
            f"{self._source}: refused to load {module}.{name}; feature pickles may only hold "
            "dicts, lists, tuples, strings, numbers and numpy arrays"
        )


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    return _RestrictedUnpickler(io.BytesIO(data), source).load()


def safe_load(path: Path | str) -> Any:
    """Load a feature pickle with the restricted unpickler; errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(f"{path}: cannot read feature pickle ({exc.strerror})") from None
    try:
        return safe_loads(data, str(path))
    except UnsafePickleError:
        raise
    except Exception as exc:
        raise pickle.UnpicklingError(f"{path}: not a valid feature pickle ({type(exc).__name__}: {exc})") from None
