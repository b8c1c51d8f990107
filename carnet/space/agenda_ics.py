"""The agenda as an iCalendar feed (RFC 5545), written by hand to the letter of the RFC.

- lines end with CRLF (3.1) and are folded so that no line exceeds 75 octets, never inside a UTF-8 sequence: the
  continuation starts with one space;
- TEXT values escape ``\\``, ``;``, ``,`` and newlines (3.3.11);
- every VEVENT has a UID (stable: the event's id at the platform's domain), a DTSTAMP (when the feed is produced),
  DTSTART and DTEND in UTC (``Z`` form, 3.3.5: no VTIMEZONE is needed), SEQUENCE, STATUS (TENTATIVE for a proposed
  event, CONFIRMED when booked, CANCELLED), SUMMARY, LOCATION, DESCRIPTION, CATEGORIES, LAST-MODIFIED;
- an event with no end lasts 30 minutes (a reminder 15), so that every calendar shows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from carnet.space.agenda import KINDS, EventView

__all__ = ["PRODID", "calendar", "escape", "fold"]

PRODID = "-//Carnet//Agenda du titulaire//FR"
UID_DOMAIN = "agenda.carnet.sante.fr"
_STATUS = {"proposed": "TENTATIVE", "booked": "CONFIRMED", "cancelled": "CANCELLED"}
_DEFAULT_LENGTH = {"reminder": dt.timedelta(minutes=15)}


def escape(text: str) -> str:
    """A TEXT value (RFC 5545 3.3.11)."""
    out = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return out.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """One content line folded at 75 octets (RFC 5545 3.1), CRLF-terminated; multi-octet characters kept whole."""
    out: list[str] = []
    current = ""
    size = 0
    limit = 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = "", 0, 74  # continuation lines start with a space: 74 octets of content
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out) + "\r\n"


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _event_lines(event: EventView, stamp: dt.datetime) -> list[str]:
    end = event.end_at or event.start_at + _DEFAULT_LENGTH.get(event.kind, dt.timedelta(minutes=30))
    lines = [
        "BEGIN:VEVENT",
        f"UID:{event.id}@{UID_DOMAIN}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(event.start_at)}",
        f"DTEND:{_utc(end)}",
        f"SEQUENCE:{event.sequence}",
        f"STATUS:{_STATUS.get(event.status, 'CONFIRMED')}",
        f"SUMMARY:{escape(event.title)}",
        f"CATEGORIES:{escape(KINDS.get(event.kind, (event.kind, event.kind))[0])}",
        f"CREATED:{_utc(event.created_at)}",
        f"LAST-MODIFIED:{_utc(event.updated_at)}",
    ]
    if event.place:
        lines.append(f"LOCATION:{escape(event.place)}")
    description = event.description or ""
    if event.source_name and event.source_kind not in ("patient", "representative"):
        description = (description + "\n" if description else "") + f"Ajouté par : {event.source_name}"
    if description:
        lines.append(f"DESCRIPTION:{escape(description)}")
    lines.append("END:VEVENT")
    return lines


def calendar(events: Iterable[EventView], *, now: dt.datetime, name: str = "Mon agenda santé") -> bytes:
    """The VCALENDAR of the events, as UTF-8 bytes with CRLF line ends."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape(name)}",
        "X-WR-TIMEZONE:Europe/Paris",
    ]
    for event in events:
        lines.extend(_event_lines(event, now))
    lines.append("END:VCALENDAR")
    return "".join(fold(line) for line in lines).encode("utf-8")
