"""One small typed registry for datasets, detectors, metrics and protocols (torch-fidelity/lm-eval style)."""

from __future__ import annotations

import contextlib
import difflib
from typing import Generic, Iterator, TypeVar

from vidrd_bench.core.errors import VidrdBenchError

T = TypeVar("T")


class UnknownNameError(VidrdBenchError):
    """A name was looked up that no entry of the registry carries."""


class Registry(Generic[T]):
    """Maps names to entries of one kind; checks types, rejects duplicates, suggests close names."""

    def __init__(self, kind: str, base: type | tuple[type, ...] | None = None):
        self.kind = kind
        self.base = base
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None):
        """Add `entry` under `name`; usable directly or as a decorator when `entry` is omitted."""
        if entry is None:
            return lambda obj: self.register(name, obj)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if self.base is not None:
            ok = isinstance(entry, self.base) or (isinstance(entry, type) and issubclass(entry, self.base))
            if not ok:
                raise TypeError(f"{self.kind} {name!r} must be a {self.base}, got {type(entry).__name__}")
        self._entries[name] = entry
        return entry

    @contextlib.contextmanager
    def registered(self, name: str, entry: T) -> Iterator[T]:
        """Register `entry` for the duration of a `with` block, then remove it (a plug-in a test enrolls for itself)."""
        self.register(name, entry)
        try:
            yield entry
        finally:
            del self._entries[name]

    def get(self, name: str) -> T:
        """Return the entry for `name`, or raise a clear error listing the close and the known names."""
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(
            f"Unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(sorted(self._entries)) or '(none)'}."
        )

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs in registration order."""
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
