"""Intake: JSON Lines from the marketplace into the database, in batches, idempotently."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import filetype
from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from db.base import utcnow
from db.bulk import insert_rows
from db.enums import Kind, MessageRole, Priority, Status, Via
from db.models import (
    Agent,
    Attachment,
    Conversation,
    ConversationEvent,
    Feedback,
    Flag,
    Listing,
    Message,
    Party,
    Team,
)
from helpdesk_tui.services import live, sla
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake_parse import (
    AttachmentIn,
    FeedbackIn,
    FlagIn,
    Limits,
    ListingIn,
    MessageIn,
    PartyIn,
    Record,
    Rejected,
    parse_line,
)
from helpdesk_tui.sla.clocks import ConversationFacts, MessageFact, StatusFact

_ROLE = {
    "user": MessageRole.CUSTOMER,
    "buyer": MessageRole.CUSTOMER,
    "seller": MessageRole.SELLER,
    "agent": MessageRole.AGENT,
}


@dataclass
class IngestSummary:
    """What an intake run did."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    conversation_ids: set[int] = field(default_factory=set)
    message_ids: list[int] = field(default_factory=list)

    def line(self) -> str:
        return f"accepted {self.accepted}, duplicates {self.duplicates}, rejected {self.rejected}"

    def as_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


RejectHandler = Callable[[int, bytes, str], None]


@dataclass
class _PendingMessage:
    """A message to insert with the batch's executemany; ids resolve after the ORM flush."""

    external_id: str | None
    conversation: Conversation
    party: Party | None
    agent: Agent | None
    author_name: str
    role: str
    body: str
    sent_at: datetime
    attachments: list[dict[str, object]] = field(default_factory=list)
    id: int | None = None

    def row(self) -> dict[str, object]:
        return {
            "external_id": self.external_id,
            "idempotency_key": None,
            "conversation_id": self.conversation.id,
            "author_party_id": self.party.id if self.party is not None else None,
            "author_agent_id": self.agent.id if self.agent is not None else None,
            "author_name": self.author_name,
            "role": self.role,
            "body": self.body,
            "internal": False,
            "via": Via.INTAKE.value,
            "template_id": None,
            "sent_at": self.sent_at,
            "created_at": utcnow(),
        }


@dataclass
class _Outcome:
    accepted: int = 0
    duplicates: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)
    conversation_ids: set[int] = field(default_factory=set)
    messages: list[_PendingMessage] = field(default_factory=list)


class Intake:
    """Feeds batches of parsed lines into the database; reports every rejected line."""

    def __init__(self, ctx: Context, on_reject: RejectHandler | None = None) -> None:
        self.ctx = ctx
        self.summary = IngestSummary()
        self.on_reject = on_reject or (lambda line, raw, reason: None)
        s = ctx.settings
        self.limits = Limits(s.body_limit_bytes, s.attachment_limit_bytes)
        self._pending: list[tuple[Record, bytes]] = []

    def feed(self, raw: bytes, line: int) -> None:
        """Take one raw line; commits when a batch is full."""
        try:
            record = parse_line(raw, line, self.limits)
        except Rejected as exc:
            self._reject(line, raw, str(exc))
            return
        if record is not None:
            self._pending.append((record, raw))
        if len(self._pending) >= self.ctx.settings.intake_batch:
            self.flush()

    def run(self, lines: Iterable[bytes]) -> IngestSummary:
        for number, raw in enumerate(lines, start=1):
            self.feed(raw.rstrip(b"\r\n"), number)
        self.flush()
        return self.summary

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        """Commit what has been read so far."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        outcome = self._apply_batch(batch)
        if outcome is None:  # the batch as a whole failed: land what can land, one by one
            for item in batch:
                single = self._apply_batch([item])
                if single is None:
                    self._reject(item[0].line, item[1], "the database refused this record")
                else:
                    self._merge(single, [item])
            return
        self._merge(outcome, batch)

    def _apply_batch(self, batch: list[tuple[Record, bytes]]) -> _Outcome | None:
        for _ in range(3):
            try:
                return self.ctx.db.write(lambda s: _BatchWriter(self.ctx, s).apply(batch))
            except IntegrityError:
                continue  # another intake stored the same ids meanwhile: retry sees duplicates
            except DataError:
                return None  # a value the database refuses: the caller lands records one by one
        return None

    def _merge(self, outcome: _Outcome, batch: list[tuple[Record, bytes]]) -> None:
        raw_by_line = {rec.line: raw for rec, raw in batch}
        self.summary.accepted += outcome.accepted
        self.summary.duplicates += outcome.duplicates
        self.summary.conversation_ids |= outcome.conversation_ids
        self.summary.message_ids.extend(m.id for m in outcome.messages)
        for line, reason in outcome.rejects:
            self._reject(line, raw_by_line[line], reason)

    def _reject(self, line: int, raw: bytes, reason: str) -> None:
        self.summary.rejected += 1
        self.on_reject(line, raw, reason)


class _BatchWriter:
    """Applies one batch inside one transaction; state lives only as long as the attempt."""

    def __init__(self, ctx: Context, session: Session) -> None:
        self.ctx = ctx
        self.s = session
        self.out = _Outcome()
        self.parties: dict[str, Party] = {}
        self.listings: dict[str, Listing] = {}
        self.threads: dict[str, Conversation] = {}
        #: ext id -> message of this batch (None: already stored)
        self.messages: dict[str, _PendingMessage | None] = {}
        self.status_events: list[tuple[Conversation, str, str, datetime]] = []
        self.flag_targets: list[tuple[Flag, _PendingMessage]] = []
        self.agents: dict[str, Agent] = {}
        self.teams: dict[str, int] = {}
        self.team_calendars: dict[int, str | None] = {}
        #: conversations created by this batch (their clocks are replayed from memory)
        self.new_conversations: list[Conversation] = []
        self.known_feedback: set[str] = set()
        self.known_flags: set[str] = set()

    # -- preload everything the batch references, with one query per table -----------------
    def _preload(self, records: list[Record]) -> None:
        s = self.s
        party_ids, listing_ids, threads, message_ids, agent_names = (
            set(),
            set(),
            set(),
            set(),
            set(),
        )
        for r in records:
            if isinstance(r, ListingIn):
                party_ids.add(r.seller.id)
                listing_ids.add(r.id)
            elif isinstance(r, MessageIn):
                message_ids.add(r.id)
                threads.add(r.conversation)
                if r.listing:
                    listing_ids.add(r.listing)
                if r.sender_role == "agent":
                    agent_names.add(r.sender.id)
                else:
                    party_ids.add(r.sender.id)
            elif isinstance(r, FeedbackIn):
                threads.add(r.conversation)
            else:
                party_ids.add(r.reporter)
                {"message": message_ids, "listing": listing_ids, "party": party_ids}[
                    r.target_type
                ].add(r.target_id)
        if party_ids:
            self.parties = {
                p.external_id: p
                for p in s.scalars(select(Party).where(Party.external_id.in_(party_ids)))
            }
        if listing_ids:
            self.listings = {
                x.external_id: x
                for x in s.scalars(select(Listing).where(Listing.external_id.in_(listing_ids)))
            }
        if threads:
            for conv in s.scalars(
                select(Conversation)
                .where(Conversation.thread_key.in_(threads))
                .order_by(Conversation.id)
            ):
                self.threads[conv.thread_key] = conv  # the newest thread wins
        if message_ids:
            self.messages = {
                ext: None
                for ext in s.scalars(
                    select(Message.external_id).where(Message.external_id.in_(message_ids))
                )
                if ext
            }
        if agent_names:
            self.agents = {
                a.username: a
                for a in s.scalars(select(Agent).where(Agent.username.in_(agent_names)))
            }
        fb = [r.id for r in records if isinstance(r, FeedbackIn)]
        if fb:
            self.known_feedback = set(
                s.scalars(select(Feedback.external_id).where(Feedback.external_id.in_(fb)))
            )
        fl = [r.id for r in records if isinstance(r, FlagIn)]
        if fl:
            self.known_flags = set(
                s.scalars(select(Flag.external_id).where(Flag.external_id.in_(fl)))
            )
        for tid, name, calendar in s.execute(select(Team.id, Team.name, Team.calendar)):
            self.teams[name] = tid
            self.team_calendars[tid] = calendar

    def apply(self, batch: list[tuple[Record, bytes]]) -> _Outcome:
        records = [r for r, _ in batch]
        self._preload(records)
        with self.s.no_autoflush:  # one flush for the whole batch, after the walk
            for record in records:
                self._apply_one(record)
        conn = self.s.connection()
        self._assign_ids(conn)
        pending = self.out.messages
        for m, new_id in zip(pending, _allocate_ids(conn, "messages", len(pending)), strict=True):
            m.id = new_id
        # Conversations created by this batch: their clocks follow from the batch alone, so
        # they are replayed from memory and their queue fields go in with the insert.
        new_clocks = self._replay_new()
        self.s.flush()  # parties, listings, conversations, flags, feedback: ids known, so batched
        self._insert_messages()
        new_clocks.store(self.s)
        touched = {m.conversation.id for m in pending}
        self.out.conversation_ids = touched
        # Open consoles hear of the new messages when this transaction commits (PostgreSQL).
        live.notify_new_messages(self.s, [m.id for m in pending if m.id is not None])
        existing = touched - {c.id for c in self.new_conversations}
        if existing:  # stored before this batch: replayed from the database
            self._refresh_times(existing)
            sla.recompute(self.s, self.ctx.settings, existing, cause="intake")
        return self.out

    def _assign_ids(self, conn: Connection) -> None:
        """Primary keys for the batch's new rows, so that the ORM inserts each table with one
        executemany instead of one INSERT ... RETURNING per row."""
        by_table: dict[str, list[object]] = {}
        for obj in self.s.new:
            if getattr(obj, "id", None) is None:
                by_table.setdefault(obj.__tablename__, []).append(obj)  # type: ignore[attr-defined]
        for table, objs in by_table.items():
            for obj, new_id in zip(objs, _allocate_ids(conn, table, len(objs)), strict=True):
                obj.id = new_id  # type: ignore[attr-defined]

    def _replay_new(self) -> sla.NewClocks:
        """Replay the clocks of the conversations this batch created, from the batch itself:
        the facts :func:`sla.recompute` would read back once the rows are stored."""
        if not self.new_conversations:
            return sla.replay_new(self.ctx.settings, [])
        messages: dict[int, list[_PendingMessage]] = {}
        for m in self.out.messages:
            messages.setdefault(id(m.conversation), []).append(m)
        statuses: dict[int, list[StatusFact]] = {}
        for conv, old, new, at in sorted(self.status_events, key=lambda e: e[3]):
            if new:  # stored order: by time, then id (= the order of this list)
                statuses.setdefault(id(conv), []).append(
                    StatusFact(at.astimezone(UTC), new, f"status {old} -> {new}")
                )
        entries = []
        for conv in self.new_conversations:
            mine = messages.get(id(conv), [])
            facts = ConversationFacts(
                kind=conv.kind,
                initial_priority=conv.priority,
                messages=[
                    MessageFact(
                        m.id,  # type: ignore[arg-type]
                        m.sent_at.astimezone(UTC),
                        m.role,
                        False,
                        Via.INTAKE.value,
                        m.external_id or "",
                    )
                    for m in mine
                ],
                statuses=statuses.get(id(conv), []),
            )
            entries.append((conv.id, self.team_calendars.get(conv.team_id), facts))
            if mine:  # what _refresh_times would store
                conv.first_message_at = min(m.sent_at for m in mine)
                conv.last_message_at = max(m.sent_at for m in mine)
        authors = {
            m.id: m.agent.id
            for m in self.out.messages
            if m.agent is not None and m.id is not None and m.role == MessageRole.AGENT.value
        }
        planned = sla.replay_new(self.ctx.settings, entries, authors=authors)
        for conv in self.new_conversations:
            for name, value in planned.deadlines[conv.id].items():
                setattr(conv, name, value)
        return planned

    def _insert_messages(self) -> None:
        """Messages, attachments and status events with one bulk statement each."""
        conn = self.s.connection()
        pending = self.out.messages
        if pending:
            insert_rows(conn, Message.__table__, [{"id": m.id, **m.row()} for m in pending])
            attachments = [{**a, "message_id": m.id} for m in pending for a in m.attachments]
            insert_rows(conn, Attachment.__table__, attachments)
        for flag, target in self.flag_targets:
            flag.target_message_id = target.id
        if self.status_events:
            ids = _allocate_ids(conn, "conversation_events", len(self.status_events))
            insert_rows(
                conn,
                ConversationEvent.__table__,
                [
                    {"id": i, "conversation_id": c.id, "field": "status", "old": old, "new": new,
                     "actor_agent_id": None, "at": at}
                    for i, (c, old, new, at) in zip(ids, self.status_events, strict=True)
                ],
            )  # fmt: skip
        self.s.flush()

    def _apply_one(self, record: Record) -> None:
        try:
            if isinstance(record, ListingIn):
                accepted = self._listing(record)
            elif isinstance(record, MessageIn):
                accepted = self._message(record)
            elif isinstance(record, FeedbackIn):
                accepted = self._feedback(record)
            else:
                accepted = self._flag(record)
        except Rejected as exc:
            self.out.rejects.append((record.line, str(exc)))
            return
        if accepted:
            self.out.accepted += 1
        else:
            self.out.duplicates += 1

    # -- records -------------------------------------------------------------------------
    def _party(self, p: PartyIn, *, update_details: bool = True) -> Party:
        party = self.parties.get(p.id)
        if party is None:
            party = Party(external_id=p.id, name=p.name, verified=bool(p.verified))
            self.s.add(party)
            self.parties[p.id] = party
        elif update_details:
            if p.name and p.name != party.name:
                party.name = p.name
            if p.verified is not None and p.verified != party.verified:
                party.verified = p.verified
        return party

    def _listing(self, r: ListingIn) -> bool:
        if r.id in self.listings:
            return False
        listing = Listing(
            external_id=r.id,
            title=r.title,
            seller=self._party(r.seller),
            active=r.active,
            messaging_enabled=r.messaging,
            created_at=r.created_at,
            category=r.category,
        )
        self.s.add(listing)
        self.listings[r.id] = listing
        return True

    def _message(self, r: MessageIn) -> bool:
        if r.id in self.messages:
            return False
        role = _ROLE[r.sender_role]
        agent = party = None
        if role == MessageRole.AGENT:
            agent = self.agents.get(r.sender.id)
            if agent is None:
                raise Rejected(
                    f"unknown agent {r.sender.id[:80]!r} (from.id of a role agent "
                    "message must be an agent's username)"
                )
        conv = self._thread_for(r)
        if role != MessageRole.AGENT:
            party = self._party(r.sender)
        msg = _PendingMessage(
            external_id=r.id,
            conversation=conv,
            party=party,
            agent=agent,
            author_name=(agent.display_name if agent else r.sender.name) or r.sender.id,
            role=role.value,
            body=r.body,
            sent_at=r.sent_at,
            attachments=[self._attachment(att) for att in r.attachments],
        )
        self.messages[r.id] = msg
        self.out.messages.append(msg)
        self._status_after(conv, role, r.sent_at)
        return True

    def _thread_for(self, r: MessageIn) -> Conversation:
        conv = self.threads.get(r.conversation)
        role = _ROLE[r.sender_role]
        if (
            conv is not None
            and conv.status in (Status.RESOLVED, Status.CLOSED)
            and (
                role != MessageRole.AGENT
                and conv.resolved_at is not None
                and r.sent_at - conv.resolved_at
                > timedelta(seconds=self.ctx.settings.policy.reopen_window_s)
            )
        ):
            threads = self.s.scalar(
                select(func.count()).where(Conversation.thread_key == r.conversation)
            )
            n = 1 + (threads or 1)
            new = self._new_conversation(r, conv.kind, f"{r.conversation}/{n}", template=conv)
            new.reopened_from_id = conv.id
            return new
        if conv is not None:
            return conv
        if role == MessageRole.AGENT:
            raise Rejected(
                f"conversation {r.conversation[:80]!r} is unknown and a new "
                "conversation must start with a message from a marketplace party"
            )
        if r.kind is None:
            raise Rejected(
                f"conversation {r.conversation[:80]!r} is new: its first message "
                "needs 'kind' (user_admin, buyer_seller or issue_report)"
            )
        return self._new_conversation(r, r.kind, r.conversation)

    def _new_conversation(
        self, r: MessageIn, kind: str, external_id: str, template: Conversation | None = None
    ) -> Conversation:
        listing = None
        listing_ref = r.listing or (
            template.listing.external_id if template and template.listing else None
        )
        if listing_ref:
            listing = self.listings.get(listing_ref)
            if listing is None and template is not None and r.listing is None:
                listing = template.listing  # a reopened thread keeps its listing (not preloaded)
            if listing is None:
                raise Rejected(
                    f"unknown listing {listing_ref[:80]!r}: send the listing record first"
                )
        if kind == Kind.BUYER_SELLER and listing is None:
            raise Rejected("a buyer_seller conversation needs a 'listing'")
        team_name = self.ctx.settings.routing.get(kind)
        conv = Conversation(
            external_id=external_id,
            thread_key=r.conversation,
            kind=kind,
            subject=r.subject or (template.subject if template else "") or r.body[:80],
            listing=listing,
            requester=self._party(r.sender),
            counterpart=listing.seller
            if listing is not None and kind == Kind.BUYER_SELLER
            else None,
            team_id=self.teams.get(team_name) if team_name else None,
            status=Status.NEW.value,
            priority=r.priority or Priority.NORMAL.value,
            category=r.category or (listing.category if listing is not None else None),
            first_message_at=r.sent_at,
            last_message_at=r.sent_at,
            created_at=r.sent_at,
        )
        self.s.add(conv)
        self.threads[r.conversation] = conv
        self.new_conversations.append(conv)
        return conv

    def _status_since(self, conv: Conversation) -> datetime:
        """When the conversation's status last changed (its creation if never)."""
        since = None
        if conv.id is not None:
            since = self.s.scalar(
                select(func.max(ConversationEvent.at)).where(
                    ConversationEvent.conversation_id == conv.id,
                    ConversationEvent.field == "status",
                )
            )
        return since or conv.created_at

    def _status_after(self, conv: Conversation, role: MessageRole, at: datetime) -> None:
        """A customer writing reopens a pending or recently resolved thread; a reply opens it."""
        old = conv.status
        new = old
        if role in (MessageRole.CUSTOMER, MessageRole.SELLER) and (
            conv.kind != Kind.BUYER_SELLER or role == MessageRole.CUSTOMER
        ):
            if old == Status.PENDING_CUSTOMER and at > self._status_since(conv):
                new = Status.OPEN.value  # not for a late message sent before it went pending
            elif (
                old in (Status.RESOLVED, Status.CLOSED)
                and conv.resolved_at
                and at > conv.resolved_at
            ):
                new = Status.OPEN.value
                conv.resolved_at = None
        elif old == Status.NEW:
            new = Status.OPEN.value
        if new != old:
            conv.status = new
            conv.is_open = True
            self.status_events.append((conv, old, new, at))

    def _attachment(self, att: AttachmentIn) -> dict[str, object]:
        digest = hashlib.sha256(att.content).hexdigest()
        path = self.ctx.settings.attachment_dir / digest[:2] / digest
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{digest}.{uuid.uuid4().hex}.tmp")  # unique per writer
            tmp.write_bytes(att.content)
            tmp.replace(path)
        return {
            "name": att.name,
            "mime_type": sniff_mime(att.content),
            "size": len(att.content),
            "sha256": digest,
            "stored_path": str(Path(digest[:2]) / digest),
        }

    def _feedback(self, r: FeedbackIn) -> bool:
        if r.id in self.known_feedback:
            return False
        conv = self.threads.get(r.conversation)
        if conv is None:
            raise Rejected(f"unknown conversation {r.conversation[:80]!r}")
        self.s.add(
            Feedback(
                external_id=r.id,
                conversation=conv,
                rating=r.rating,
                nps=r.nps,
                comment=r.comment,
                submitted_at=r.submitted_at,
            )
        )
        self.known_feedback.add(r.id)
        return True

    def _flag(self, r: FlagIn) -> bool:
        if r.id in self.known_flags:
            return False
        flag = Flag(external_id=r.id, reason=r.reason, flagged_at=r.flagged_at)
        if r.target_type == "message":
            if r.target_id not in self.messages:
                raise Rejected(f"unknown message {r.target_id[:80]!r}")
            target_msg = self.messages[r.target_id]
            if target_msg is None:  # stored before this batch
                flag.target_message_id = self.s.scalars(
                    select(Message.id).where(Message.external_id == r.target_id)
                ).one()
            else:  # in this batch: its id is known once the batch's messages are inserted
                self.flag_targets.append((flag, target_msg))
        elif r.target_type == "listing":
            listing = self.listings.get(r.target_id)
            if listing is None:
                raise Rejected(f"unknown listing {r.target_id[:80]!r}")
            flag.target_listing_id = listing.id if listing.id else None
            if listing.id is None:
                self.s.flush()
                flag.target_listing_id = listing.id
        else:
            if r.target_id not in self.parties:
                raise Rejected(f"unknown party {r.target_id[:80]!r}")
            party = self.parties[r.target_id]
            if party.id is None:
                self.s.flush()
            flag.target_party_id = party.id
        reporter = self._party(PartyIn(r.reporter), update_details=False)
        team_name = self.ctx.settings.routing.get(Kind.FLAG.value)
        key = f"flag:{r.id}"
        conv = Conversation(
            external_id=key,
            thread_key=key,
            kind=Kind.FLAG.value,
            subject=f"Flag: {r.reason[:120]} ({r.target_type} {r.target_id[:80]})",
            requester=reporter,
            team_id=self.teams.get(team_name) if team_name else None,
            status=Status.NEW.value,
            priority=Priority.NORMAL.value,
            category="moderation",
            first_message_at=r.flagged_at,
            last_message_at=r.flagged_at,
            created_at=r.flagged_at,
        )
        self.s.add(conv)
        self.threads[key] = conv
        self.new_conversations.append(conv)
        report = _PendingMessage(
            external_id=None,
            conversation=conv,
            party=reporter,
            agent=None,
            author_name=reporter.name or r.reporter,
            role=MessageRole.CUSTOMER.value,
            body=f"Reported {r.target_type} {r.target_id}: {r.reason}",
            sent_at=r.flagged_at,
        )
        self.out.messages.append(report)
        flag.conversation = conv
        self.s.add(flag)
        self.known_flags.add(r.id)
        return True

    def _refresh_times(self, ids: set[int]) -> None:
        first = select(func.min(Message.sent_at)).where(Message.conversation_id == Conversation.id)
        last = select(func.max(Message.sent_at)).where(Message.conversation_id == Conversation.id)
        self.s.execute(
            update(Conversation)
            .where(Conversation.id.in_(ids))
            .values(
                first_message_at=first.scalar_subquery(), last_message_at=last.scalar_subquery()
            )
            .execution_options(synchronize_session=False)
        )


def _allocate_ids(conn: Connection, table: str, n: int) -> list[int]:
    """``n`` fresh primary keys, so that a batch inserts with one plain executemany (RETURNING
    with a guaranteed order costs one statement per row on SQLite)."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table, "n": n},
        )
        return [int(r[0]) for r in rows]
    # SQLite: the batch holds the write lock (BEGIN IMMEDIATE), so max(id) cannot move under us.
    start = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    return list(range(int(start) + 1, int(start) + 1 + n))


def sniff_mime(content: bytes) -> str:
    """The MIME type from the content itself, never from the file name."""
    kind = filetype.guess(content)
    if kind is not None:
        return str(kind.mime)
    if not content:
        return "application/x-empty"
    try:
        content[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"
