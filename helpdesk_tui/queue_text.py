"""Plain-text rendering of the queue for `helpdesk queue` (readable at 80 columns)."""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len

from db.records import QueuePage, QueueRow
from helpdesk_tui.sla.policy import format_duration
from widgets.sanitize import clean, truncate

KIND_LABEL = {
    "user_admin": "support",
    "buyer_seller": "buyer",
    "issue_report": "issue",
    "flag": "flag",
}


def time_left(row: QueueRow, now: datetime) -> str:
    """``3h 12m``, ``-25m`` when breached, ``-`` without a clock."""
    left = row.seconds_left(now)
    return "-" if left is None else format_duration(left)


def _pad(text: str, width: int) -> str:
    """Pad to ``width`` terminal cells (wide characters take two)."""
    return text + " " * max(width - cell_len(text), 0)


def table_text(page: QueuePage, now: datetime, width: int = 80) -> str:
    """The queue as an aligned table; customer text cleaned of control characters."""
    fixed = 10 + 7 + 8 + 13 + 11  # left, priority, kind, conversation, assignee, gaps
    subject_w = max(width - fixed, 12)
    lines = [
        f"{'LEFT':<9} {'PRI':<6} {'KIND':<7} {'CONVERSATION':<12} "
        f"{'SUBJECT':<{subject_w}} {'ASSIGNEE':<10}".rstrip()
    ]
    for row in page.rows:
        flag = "!" if row.breached(now) else ("~" if row.at_risk(now) else " ")
        subject = _pad(truncate(clean(row.subject, single_line=True), subject_w), subject_w)
        conversation = _pad(truncate(clean(row.conversation, single_line=True), 12), 12)
        assignee = truncate(clean(row.assignee or "-", single_line=True), 10)
        lines.append(
            f"{flag}{time_left(row, now)[:8]:<8} {row.priority[:6]:<6} "
            f"{KIND_LABEL.get(row.kind, row.kind)[:7]:<7} "
            f"{conversation} {subject} {assignee}".rstrip()
        )
    shown = len(page.rows)
    total = f"{page.total}+" if page.total_capped else str(page.total)
    lines.append(f"{shown} of {total} open conversations (! breached, ~ at risk)")
    return "\n".join(lines)
