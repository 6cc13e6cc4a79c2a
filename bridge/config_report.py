"""Where a configuration problem is: ``<file>:<line>: <key.path>: <message>``, secrets redacted.

The loader records the line of every YAML key path (``lines``) and where each final ``people``
entry came from (``origins``: a YAML item, or rows of a CSV file); pydantic's error locations and
the loader's own problems are turned into one sorted list. A path the loader already reported
(a missing environment variable, a duplicate key) gets no follow-up error from validation.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

KeyPath = tuple[str | int, ...]


class Origin:
    """Where one final ``people`` entry came from: a YAML item or CSV rows."""

    def __init__(self, yaml_index: int, csv_file: str | None = None, row: int = 0) -> None:
        self.yaml_index = yaml_index
        self.csv_file = csv_file
        self.row = row
        self.endpoint_rows: list[int] = []


class Report:
    """Collects problems and turns key paths into ``file:line: key.path``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[KeyPath, int] = {(): 1}
        self.origins: list[Origin] = []
        self.secrets: set[str] = set()  # secret values, redacted from every message
        self._flagged: set[KeyPath] = set()
        self._items: list[tuple[str, int, str]] = []

    def add(self, path: KeyPath, message: str) -> None:
        """A problem at a key path (``people`` indices are final ones, after CSV expansion)."""
        file, line, shown = self._where(path)
        self._flagged.add(shown)
        self._items.append((file, line, f"{_dotted(shown)}: {message}"))

    def at(self, file: str, line: int, path: str, message: str) -> None:
        self._items.append((file, line, f"{path}: {message}"))

    def yaml_line(self, path: KeyPath) -> int:
        while path not in self.lines:
            path = path[:-1]
        return self.lines[path]

    def validation(self, exc: ValidationError) -> None:
        """Every error of one validation, at its place."""
        errors = exc.errors(include_url=False, include_input=False)
        deeper = {tuple(e["loc"][:i]) for e in errors for i in range(len(e["loc"]))}
        for error in errors:
            if error["type"] == "too_short" and tuple(error["loc"]) in deeper:
                continue  # pydantic also calls a sequence short when one of its items failed
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
            file, line, shown = self._where(loc)
            if shown not in self._flagged:
                self._items.append((file, line, f"{_dotted(shown)}: {_message(error)}"))

    @property
    def items(self) -> list[str]:
        ordered = sorted(set(self._items), key=lambda it: (it[0] != self.source, it[0], it[1], it[2]))
        return [self._redact(f"{file}:{line}: {text}") for file, line, text in ordered]

    def _where(self, path: KeyPath) -> tuple[str, int, KeyPath]:
        if (
            len(path) >= 2
            and path[0] == "people"
            and isinstance(path[1], int)
            and path[1] < len(self.origins)
        ):
            origin = self.origins[path[1]]
            shown: KeyPath = ("people", origin.yaml_index, *path[2:])
            if origin.csv_file is not None:
                line = origin.row
                if len(path) >= 4 and path[2] == "endpoints" and isinstance(path[3], int):
                    rows = origin.endpoint_rows
                    line = rows[path[3]] if path[3] < len(rows) else line
                return origin.csv_file, line, shown
            path = shown
        return self.source, self.yaml_line(path), path

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path) if path else "(top level)"


def _message(error: Any) -> str:
    if error["type"] == "missing":
        return "required"
    if error["type"] == "extra_forbidden":
        ctx = error.get("ctx") or {}
        return f"{ctx['unknown']}; allowed: {ctx['allowed']}" if "allowed" in ctx else "unknown key"
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg
