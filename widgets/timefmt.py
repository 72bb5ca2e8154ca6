"""Short, deterministic time formatting for widgets (no database, no application imports)."""

from __future__ import annotations

from datetime import datetime, tzinfo


def short_duration(seconds: float, *, compact: bool = False) -> str:
    """Seconds as ``45s``, ``12m``, ``3h 5m``, ``2d 4h``; negative with a leading ``-``.

    ``compact`` drops the space (``1d15h``, at most 6 cells below 100 days) and shows whole
    days only from 100 days on (``123d``), for narrow columns.
    """
    s = int(abs(seconds))
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m")) if v]
    if compact and days >= 100:
        parts = parts[:1]
    text = ("" if compact else " ").join(parts[:2]) if parts else f"{secs}s"
    return ("-" if seconds < 0 else "") + text


def age(then: datetime | None, now: datetime, *, compact: bool = False) -> str:
    """How long ago ``then`` was: ``5m``, ``2h 3m`` (``2h3m`` compact); ``-`` without a time."""
    if then is None:
        return "-"
    return short_duration(max((now - then).total_seconds(), 0), compact=compact)


def local(when: datetime | None, tz: tzinfo, *, with_date: bool = True) -> str:
    """``Mon 02 Mar 09:15`` in the agent's zone (``-`` without a time)."""
    if when is None:
        return "-"
    here = when.astimezone(tz)
    return here.strftime("%a %d %b %H:%M" if with_date else "%H:%M")


def size(n: int) -> str:
    """Bytes as ``512 B``, ``12.3 KB``, ``4.0 MB``."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"
