"""What every service needs: the database, the settings and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from db.base import utcnow
from db.engine import Database
from helpdesk_tui.settings import Settings


@dataclass
class Context:
    """Passed to services; tests pin ``now`` to a fixed instant."""

    db: Database
    settings: Settings = field(default_factory=Settings)
    now: Callable[[], datetime] = utcnow
