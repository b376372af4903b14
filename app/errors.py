"""Domain errors shared by services, portals and the API."""

from __future__ import annotations

__all__ = ["Forbidden", "LinesRejected", "NotFound", "ValidationFailed"]


class ValidationFailed(ValueError):
    """Bad input: one French message per field; nothing was written."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFound(LookupError):
    """Absent, or present in a tenant the caller may not see (the two look alike)."""


class Forbidden(PermissionError):
    """The caller sees the resource but its role does not allow the action."""


class LinesRejected(ValueError):
    """An import refused whole: ``errors`` maps a line number to its messages (0: the file as a
    whole); nothing was written. ``nothing`` says what was not imported (« aucune borne importée »)."""

    nothing = "rien n'a été importé"

    def __init__(self, errors: dict[int, list[str]]) -> None:
        self.errors = dict(sorted(errors.items()))
        super().__init__(f"{len(self.errors)} ligne(s) en erreur")

    def report(self) -> list[str]:
        lines = [f"Import refusé : {len(self.errors)} ligne(s) en erreur, {self.nothing}."]
        for number, messages in self.errors.items():
            lines += [f"ligne {number} : {message}" if number else message for message in messages]
        return lines
