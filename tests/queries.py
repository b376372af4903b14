"""Counting the SQL statements a page sends (N+1 checks): a listener on the app's engine, so a test can assert that
a list page sends as many statements for 2N items as for N."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from litestar import Litestar
from sqlalchemy import event


@contextlib.contextmanager
def statements_sent(app: Litestar) -> Iterator[list[str]]:
    """The statements the app's engine sends inside the block, in order."""
    engine = app.state.db.engine.sync_engine
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def statements_of_get(client: Any, app: Litestar, url: str) -> list[str]:
    """The statements one GET of ``url`` sends (the page must answer 200)."""
    with statements_sent(app) as sent:
        page = await client.get(url)
    assert page.status_code == 200, page.text[:2000]
    return list(sent)
