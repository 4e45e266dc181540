"""Name -> builder tables, so adding a dataset, model or mask method is a new file, not an edit
of a central switch."""
from typing import Callable, Dict, List

from .errors import unknown_name


class Registry:
    """Maps a public name to the function that builds it; `kind` names it in error messages."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Callable] = {}

    def register(self, name: str):
        def add(builder: Callable) -> Callable:
            if name in self._entries:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = builder
            return builder

        return add

    def get(self, name: str) -> Callable:
        if name not in self._entries:
            raise unknown_name(self.kind, name, self._entries)
        return self._entries[name]

    def names(self) -> List[str]:
        return sorted(self._entries)
