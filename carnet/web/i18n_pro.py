"""The professional portal's messages (French default, English), merged into ``carnet.web.i18n.MESSAGES``."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {},
    "en": {},
}
