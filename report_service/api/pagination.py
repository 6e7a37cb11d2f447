"""limit/offset pagination with the total count of matching rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

MAX_PAGE = 200


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
) -> PageRequest:
    return PageRequest(limit, offset)


PageParams = Annotated[PageRequest, Depends(page_request)]


def fetch_page(session: Session, statement: Select[Any], page: PageRequest) -> dict[str, Any]:
    """One page of `statement` (which must be ordered) and the total, as a Page body."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    items = session.scalars(statement.limit(page.limit).offset(page.offset)).all()
    return {"items": items, "total": total or 0, "limit": page.limit, "offset": page.offset}
