"""Named choices defined once: models, protocols and losses each live in one `Registry`.

The config schema takes its allowed values from a registry, `train.py --list_keys` prints what
each registry holds, an unknown name is an error listing the valid ones, and the docs are
checked against the registries by the tests. Adding a model (or protocol, or loss) is
registering it; nothing else needs to learn its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from mer_builder.errors import InputError

T = TypeVar("T")


class UnknownNameError(InputError, KeyError):
    """A name that is not in the registry; the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    value: T
    summary: str


class Registry(Generic[T]):
    """name -> value (a class or a function) with a one-line summary, in registration order."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, summary: str) -> Callable[[T], T]:
        """Decorator: `@MODELS.register("flexible_at", "audio and/or text ...")`."""

        def add(value: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, value, summary)
            return value

        return add

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; expected one of {', '.join(self._entries)}")
        return self._entries[name].value

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entries(self) -> tuple[Entry[T], ...]:
        return tuple(self._entries.values())

    def describe(self) -> str:
        """`name  summary` lines, for --list_keys and the docs."""
        width = max((len(n) for n in self._entries), default=0)
        return "\n".join(f"  {e.name:<{width}}  {e.summary}" for e in self._entries.values())
