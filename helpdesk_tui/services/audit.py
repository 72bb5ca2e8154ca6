"""The audit log: every agent action, allowed or refused, in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from db.base import utcnow
from db.bulk import insert_rows
from db.models import Agent, AuditEvent


def record(
    session: Session,
    actor: Agent | str,
    action: str,
    target_type: str,
    target_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    allowed: bool = True,
    detail: str = "",
    at: datetime | None = None,
) -> None:
    """Append one audit event (flushed with the caller's transaction)."""
    agent = actor if isinstance(actor, Agent) else None
    session.add(
        AuditEvent(
            actor=agent.username if agent else str(actor),
            actor_agent_id=agent.id if agent else None,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            before=before,
            after=after,
            allowed=allowed,
            detail=detail[:500],
            at=at or utcnow(),
        )
    )


def record_many(session: Session, events: list[dict[str, Any]]) -> None:
    """Append several events in one statement (``db.bulk.insert_rows``: COPY on PostgreSQL);
    each dict holds :func:`record`'s arguments (``actor`` a name, as for the scheduler) and is
    stored as ``record`` stores it."""
    if not events:
        return
    session.flush()
    insert_rows(session.connection(), TABLE, rows(events))


#: The audit log's table, for callers writing :func:`rows` themselves (a pipeline).
TABLE = cast(Table, AuditEvent.__table__)


def rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table rows of :func:`record_many`'s events."""
    out = []
    for e in events:
        out.append(
            {
                "actor": str(e["actor"]),
                "actor_agent_id": None,
                "action": e["action"],
                "target_type": e["target_type"],
                "target_id": str(e["target_id"]),
                "before": e.get("before"),
                "after": e.get("after"),
                "allowed": e.get("allowed", True),
                "detail": str(e.get("detail", ""))[:500],
                "at": e.get("at") or utcnow(),
            }
        )
    return out
