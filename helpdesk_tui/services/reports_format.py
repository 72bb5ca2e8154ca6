"""Render a report as JSON, a terminal table, CSV or Markdown (one table per section)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from helpdesk_tui.sla.policy import format_duration
from widgets.sanitize import clean

FORMATS = ("table", "json", "csv", "md")

_FIGURE_SECTIONS = ("volume", "response", "satisfaction", "moderation", "adoption")
_AGENT_COLUMNS = (
    "agent",
    "name",
    "replies",
    "first_responses",
    "first_response_avg_s",
    "responded_within_target_pct",
    "resolved",
    "rating_avg",
)
_SELLER_COLUMNS = (
    "seller",
    "name",
    "inquiries",
    "replied_in_time",
    "missed",
    "pending",
    "replied_within_4h_pct",
    "average_reply_s",
    "standing",
)
_BUDGET_COLUMNS = (
    "target_pct",
    "population",
    "decided",
    "missed",
    "pending",
    "projected_population",
    "allowed_misses",
    "budget_left",
    "projected_misses",
    "will_meet",
)


#: The order figures are listed in (JSON keys are sorted; people read in this order).
_ORDER = (
    "messages",
    "user_to_admin",
    "admin_to_user",
    "user_to_user",
    "peak_hour",
    "first_response_avg_s",
    "first_response_median_s",
    "first_response_business_avg_s",
    "first_responses",
    "average_response_s",
    "responses_met",
    "resolution_avg_s",
    "resolutions",
    "responded_within_target_pct",
    "responded_within_target",
    "resolved_within_24h_pct",
    "resolved_within_24h",
    "seller_replied_within_4h_pct",
    "seller_replied_within_4h",
    "flags",
    "decided",
    "decided_within_12h_pct",
    "clocks",
    "in_time",
    "missed",
    "pending",
    "excused",
    "responses",
    "rating_avg",
    "ratings",
    "nps",
    "nps_responses",
    "promoters",
    "detractors",
    "complaint_resolution_pct",
    "complaints",
    "complaints_resolved",
    "active_listings",
    "messaging_enabled",
    "pct",
)
_RANK = {k: i for i, k in enumerate(_ORDER)}


@dataclass(frozen=True)
class Table:
    """One section as a table: a title, column names and rows of plain values."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def to_json(data: Any) -> str:
    """ASCII JSON: control, bidi and other non-ASCII characters are escaped, so it is safe to
    print to a terminal and loses nothing for a script. The text is what ``json.dumps(data,
    indent=2, ensure_ascii=True)`` writes, made by orjson (a month's sellers and agents are
    thousands of rows, which the standard library's indenting encoder walks in Python)."""
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    return text if text.isascii() and "\x7f" not in text else _NON_ASCII.sub(_escape, text)


_NON_ASCII = re.compile(r"[^\x00-\x7e]")


def _escape(match: re.Match[str]) -> str:
    """A non-ASCII character as JSON's ``\\uXXXX`` (a surrogate pair beyond the BMP)."""
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _figures(section: dict[str, Any], prefix: str = "") -> list[tuple[Any, ...]]:
    """metric, value, target, met: a figure with ``X_target``/``X_met`` keeps them beside it;
    nested counts are flattened as ``parent.child``; by_* breakdowns get their own tables."""
    rows: list[tuple[Any, ...]] = []
    for key in sorted(section, key=lambda k: (_RANK.get(k, len(_RANK)), k)):
        value = section[key]
        base = key.rsplit("_", 1)[0]
        if (key.endswith(("_target", "_met")) and base in section) or key.startswith("by_"):
            continue
        if isinstance(value, dict):
            rows.extend(_figures(value, f"{prefix}{key}."))
            continue
        rows.append(
            (f"{prefix}{key}", value, section.get(f"{key}_target"), section.get(f"{key}_met"))
        )
    return rows


def tables(report: dict[str, Any]) -> list[Table]:
    """The report as a list of tables, in a fixed order."""
    out = [Table("period", ("field", "value"), [(k, v) for k, v in report["period"].items()])]
    for name in _FIGURE_SECTIONS:
        out.append(Table(name, ("metric", "value", "target", "met"), _figures(report[name])))
        if name == "volume":
            vol = report["volume"]
            out.append(Table("messages by day", ("date", "messages"), list(vol["by_day"].items())))
            out.append(
                Table("messages by hour", ("hour", "messages"), list(vol["by_hour"].items()))
            )
        if name == "response":
            out.append(
                Table(
                    "responded within target by week",
                    ("week", "responded_within_target_pct"),
                    list(report["response"]["by_week"].items()),
                )
            )
    esc = report["escalations"]
    out.append(
        Table(
            "escalations",
            ("metric", "value"),
            [("total", esc["total"]), ("automatic", esc["automatic"])],
        )
    )
    out.append(
        Table("escalations by level", ("level", "escalations"), list(esc["by_level"].items()))
    )
    out.append(
        Table("escalations by reason", ("reason", "escalations"), list(esc["by_reason"].items()))
    )
    out.append(
        Table(
            "agents",
            _AGENT_COLUMNS,
            [tuple(a[c] for c in _AGENT_COLUMNS) for a in report["agents"]],
        )
    )
    out.append(
        Table(
            "sellers",
            _SELLER_COLUMNS,
            [tuple(r[c] for c in _SELLER_COLUMNS) for r in report["sellers"]],
        )
    )
    out.append(
        Table(
            "budget",
            ("population_target", *_BUDGET_COLUMNS),
            [(k, *(v[c] for c in _BUDGET_COLUMNS)) for k, v in report["budget"].items()],
        )
    )
    return out


# -- plain values for files ---------------------------------------------------------------------
def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = clean(_plain(value))
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(blocks: Sequence[Table]) -> str:
    """One CSV table per section: a ``# title`` line, the header row, the rows, a blank line."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for i, t in enumerate(blocks):
        if i:
            buf.write("\n")
        buf.write(f"# {t.title}\n")
        writer.writerow(t.columns)
        for row in t.rows:
            writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def rows_csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """A single CSV table (the conversations export)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in columns])
    return buf.getvalue()


def _md(column: str, value: Any) -> str:
    text = _human(column, value) if value is not None else ""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`") or " "


def to_markdown(report: dict[str, Any], blocks: Sequence[Table]) -> str:
    p = report["period"]
    team = f", team {clean(p['team'], single_line=True)}" if p.get("team") else ""
    lines = [
        f"# {_title(p)}",
        "",
        f"{p['start']} to {p['end']} ({p['tz']}{team}), as of {p['as_of']}",
    ]
    for t in blocks[1:]:
        lines += ["", f"## {t.title.capitalize()}", ""]
        lines.append("| " + " | ".join(t.columns) + " |")
        lines.append("|" + "|".join("---" for _ in t.columns) + "|")
        if not t.rows:
            lines.append("| " + " | ".join("-" for _ in t.columns) + " |")
        for row in t.rows:
            if t.columns == ("metric", "value", "target", "met"):
                metric, value, target, met = row
                cells = [_md("metric", metric), _md(metric, value), _md(metric, target), _met(met)]
            else:
                cells = [_md(c, v) for c, v in zip(t.columns, row, strict=True)]
            lines.append("| " + " | ".join(c or " " for c in cells) + " |")
    return "\n".join(lines) + "\n"


# -- the terminal table -------------------------------------------------------------------------
def _human(metric: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    name = metric.rsplit(".", 1)[-1]
    if name.endswith("_s") and isinstance(value, int | float):
        return format_duration(value) if abs(value) >= 60 else f"{value:g}s"
    if name.endswith("pct") and isinstance(value, int | float):
        return f"{value:g}%"
    return clean(str(value), single_line=True)


def _met(value: Any) -> str:
    return "" if value is None else ("met" if value else "MISSED")


def _grid(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*columns).rstrip()]
    out += [fmt.format(*row).rstrip() for row in rows]
    return out


def _bars(columns: Sequence[str], rows: Sequence[tuple[Any, ...]], width: int = 40) -> list[str]:
    """A terminal bar chart: label, count and a bar of ``#`` scaled to the largest count."""
    top = max((int(n) for _, n in rows), default=0)
    label_w = max(len(columns[0]), *(len(str(k)) for k, _ in rows))
    count_w = max(len(columns[1]), *(len(str(n)) for _, n in rows))
    out = [f"{columns[0]:<{label_w}}  {columns[1]:>{count_w}}"]
    for key, n in rows:
        bar = "#" * (round(width * int(n) / top) if top else 0)
        out.append(f"{key!s:<{label_w}}  {n:>{count_w}}  {bar}".rstrip())
    return out


def to_table(report: dict[str, Any], blocks: Sequence[Table]) -> str:
    p = report["period"]
    team = f", team {clean(p['team'], single_line=True)}" if p.get("team") else ""
    lines = [_title(p), f"{p['start']} to {p['end']} ({p['tz']}{team}), as of {p['as_of']}"]
    for t in blocks[1:]:
        lines += ["", f"== {t.title.capitalize()} =="]
        if not t.rows:
            lines.append("(none)")
            continue
        if t.title.startswith("messages by"):
            lines += _bars(t.columns, t.rows)
            continue
        if t.title == "budget":
            names = [str(r[0]) for r in t.rows]
            grid = [
                (c, *(_human(c, r[i + 1]) for r in t.rows)) for i, c in enumerate(_BUDGET_COLUMNS)
            ]
            lines += _grid(["", *names], grid)
            continue
        if t.columns == ("metric", "value", "target", "met"):
            rows = [
                (str(m), _human(m, v), "" if tg is None else _human(m, tg), _met(met))
                for m, v, tg, met in t.rows
            ]
        else:
            rows = [
                tuple(_human(c, v) for c, v in zip(t.columns, row, strict=True)) for row in t.rows
            ]
        lines += _grid([c.replace("_", " ") for c in t.columns], rows)
    return "\n".join(lines) + "\n"


def _title(p: dict[str, Any]) -> str:
    kind = {
        "month": "SCMR-5 monthly report",
        "week": "Weekly check-in",
        "quarter": "Quarterly report",
    }
    return f"{kind.get(p['kind'], 'Report')} {p['label']}"


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return to_json(report) + "\n"
    blocks = tables(report)
    if fmt == "csv":
        return to_csv(blocks)
    if fmt == "md":
        return to_markdown(report, blocks)
    return to_table(report, blocks)
