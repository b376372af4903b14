"""``Paged``: one page of a server-side paginated list. Apart from the web shell (which re-exports it, with
``pager`` for the links) so that services returning a page import no web machinery: a job process stays small."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Paged"]


@dataclass
class Paged:
    """One page of a server-side paginated list."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))
