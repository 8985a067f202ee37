"""Which signer URIs an online key may name: the operator's grants per tenant.

``TUFSYNC_SIGNER_URI_PREFIXES`` maps an admin name, or ``"*"`` for every
admin, to URI prefixes. A prefix may contain ``{admin}`` and ``{app}``, which
stand for the tenant asking. A URI is allowed for (admin, app) when it starts
with one of the expanded prefixes **at a boundary**: the prefix ends with a
character no name may contain (anything but letters, digits, ``.``, ``_``,
``-``), or the URI goes on with such a character. So ``file2:/keys/alice``
never allows ``file2:/keys/alice2/k``.

:func:`check_setting` refuses, with a sentence saying why, every setting under
which two admins could name the same URI: a prefix under ``"*"`` without
``{admin}``, placeholders that run into the text after them, and prefixes of
two admins (or of an admin and the ``"*"`` template) where one covers the
other. The service checks it when it reads its settings, so it never starts
with such a setting.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tufsync.names import USERNAME_RE

EVERY_ADMIN = "*"
SETTING = "TUFSYNC_SIGNER_URI_PREFIXES"
# Characters of app names (a superset of those of usernames).
NAME_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
ADMIN_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_PLACEHOLDER = re.compile(r"\{(admin|app)\}")
_FORBIDDEN = ("..", "\x00", "\\")


class SignerUriSettingError(ValueError):
    """A signer-URI setting that could let two tenants reach one key."""


def _unsafe(text: str) -> bool:
    return any(bad in text for bad in _FORBIDDEN) or any(ord(c) < 32 for c in text)


def _at_boundary(prefix: str, uri: str) -> bool:
    """``uri`` starts with ``prefix`` and the prefix ends where a name cannot go on."""
    if not uri.startswith(prefix):
        return False
    return (
        len(uri) == len(prefix)
        or prefix[-1:] not in NAME_CHARS
        or uri[len(prefix)] not in NAME_CHARS
    )


def expand(template: str, admin: str, app: str) -> str:
    return _PLACEHOLDER.sub(lambda m: admin if m[1] == "admin" else app, template)


@dataclass(frozen=True)
class _Claim:
    """The part of one prefix that decides which admin it reaches."""

    owner: str  # lower-case admin name, or "*"
    head: str  # lower-case text before the first placeholder left open
    closed: bool  # True when ``head`` is the whole prefix (boundary check applies)
    shown: str  # the prefix as the operator wrote it


def _check_template(owner: str, template: str) -> None:
    where = f"{SETTING}: the prefix {template!r} of {owner!r}"
    _check_text(where, template)
    found = [m[1] for m in _PLACEHOLDER.finditer(template)]
    if len(found) != len(set(found)):
        raise SignerUriSettingError(f"{where} uses a placeholder more than once")
    _check_placeholder_ends(where, template)
    if owner == EVERY_ADMIN:
        _check_every_admin_template(where, template, found)


def _check_text(where: str, template: str) -> None:
    """A non-empty prefix without path tricks, whose only braces are placeholders."""
    if not template:
        raise SignerUriSettingError(f"{where} is empty, which would allow every URI")
    if _unsafe(template):
        raise SignerUriSettingError(f"{where} contains '..', a backslash or a control character")
    bare = _PLACEHOLDER.sub("", template)
    if "{" in bare or "}" in bare:
        raise SignerUriSettingError(f"{where} may use only the placeholders {{admin}} and {{app}}")


def _check_placeholder_ends(where: str, template: str) -> None:
    """Each placeholder ends the prefix or is followed by a character its names lack."""
    for match in _PLACEHOLDER.finditer(template):
        after = template[match.end() : match.end() + 1]
        alphabet = ADMIN_CHARS if match[1] == "admin" else NAME_CHARS
        if after == "{" or (after and after in alphabet):
            raise SignerUriSettingError(
                f"{where}: {{{match[1]}}} must be followed by a character its names cannot "
                f"contain (such as '/') or end the prefix, so that two names never give one URI"
            )


def _check_every_admin_template(where: str, template: str, found: list[str]) -> None:
    """A ``"*"`` template names the admin, before the app."""
    if "admin" not in found:
        raise SignerUriSettingError(
            f"{where} has no {{admin}}, so every admin could name the same keys; "
            f"write e.g. {template.rstrip('/') + '/{admin}/{app}/'!r}"
        )
    if "app" in found and found.index("app") < found.index("admin"):
        raise SignerUriSettingError(f"{where} must put {{admin}} before {{app}}")


def _claim(owner: str, template: str) -> _Claim:
    if owner != EVERY_ADMIN:
        head, app_placeholder, _rest = template.replace("{admin}", owner).partition("{app}")
        return _Claim(owner.lower(), head.lower(), not app_placeholder, template)
    head = template.split("{admin}", 1)[0]
    return _Claim(owner, head.lower(), False, template)


def _overlap_literal(a: _Claim, b: _Claim) -> bool:
    short, long = (a, b) if len(a.head) <= len(b.head) else (b, a)
    if not long.head.startswith(short.head):
        return False
    if len(long.head) == len(short.head) or not short.closed:
        return True
    return _stops_at_boundary(short.head, long.head)


def _stops_at_boundary(short: str, long: str) -> bool:
    """``long`` goes on from ``short`` outside a name: a closed prefix ending inside a
    name stops where the name stops, so it reaches ``long`` only across a boundary."""
    return not (short[-1:] in NAME_CHARS and long[len(short)] in NAME_CHARS)


def _overlap_wildcard(literal: _Claim, wildcard: _Claim) -> bool:
    """Can an admin other than ``literal.owner`` reach, through the template, a URI
    that ``literal`` allows?"""
    lit, head = literal.head, wildcard.head
    if head.startswith(lit):
        if literal.closed and len(head) > len(lit):
            return _stops_at_boundary(lit, head)
        return True
    if not lit.startswith(head):
        return False
    return _another_admin_at(literal, lit[len(head) :])


def _another_admin_at(literal: _Claim, rest: str) -> bool:
    """The literal goes on with ``rest`` where the template puts the admin name: does
    that name (or, with the literal still open, its continuation) differ from the
    literal's owner?"""
    name = _leading_admin_name(rest)
    if not name:
        return False  # no admin name starts there
    if name == rest and not literal.closed:
        return True  # the literal ends inside an admin name and goes on with any app name
    return name != literal.owner


def _leading_admin_name(text: str) -> str:
    """The characters of an admin name that ``text`` starts with."""
    for index, char in enumerate(text):
        if char not in ADMIN_CHARS:
            return text[:index]
    return text


def _overlap_wildcards(a: _Claim, b: _Claim) -> bool:
    if a.head == b.head:
        return False  # the admin sits at the same place in both: the same admin
    short, long = (a, b) if len(a.head) < len(b.head) else (b, a)
    if not long.head.startswith(short.head):
        return False
    return long.head[len(short.head)] in ADMIN_CHARS


def check_setting(raw: Mapping[str, Sequence[str]]) -> None:
    """Raise :class:`SignerUriSettingError` unless every URI reaches at most one admin."""
    claims = _claims(raw)
    for index, first in enumerate(claims):
        for second in claims[index + 1 :]:
            if _clash(first, second):
                raise SignerUriSettingError(
                    f"{SETTING}: the prefix {first.shown!r} of {first.owner!r} and the prefix "
                    f"{second.shown!r} of {second.owner!r} overlap, so two admins could name "
                    "the same key; make each admin's prefixes disjoint (e.g. end them with '/')"
                )


def _claims(raw: Mapping[str, Sequence[str]]) -> list[_Claim]:
    """Every prefix of the setting, checked on its own, as a claim."""
    seen: dict[str, str] = {}
    claims: list[_Claim] = []
    for owner, templates in raw.items():
        _check_owner(owner, seen)
        for template in templates:
            _check_template(owner, template)
            claims.append(_claim(owner, template))
    return claims


def _check_owner(owner: str, seen: dict[str, str]) -> None:
    """``owner`` is an admin name not named before in any case (``seen``), or ``"*"``."""
    if owner != EVERY_ADMIN and not USERNAME_RE.fullmatch(owner):
        raise SignerUriSettingError(
            f"{SETTING}: {owner!r} is neither an admin name nor {EVERY_ADMIN!r}"
        )
    if owner.lower() in seen:
        raise SignerUriSettingError(
            f"{SETTING} names admin {owner!r} twice ({seen[owner.lower()]!r}); usernames "
            "are the same regardless of case"
        )
    seen[owner.lower()] = owner


def _clash(first: _Claim, second: _Claim) -> bool:
    """Can one URI be reached through both claims by two different admins?"""
    if first.owner == second.owner and first.owner != EVERY_ADMIN:
        return False
    if first.owner == EVERY_ADMIN and second.owner == EVERY_ADMIN:
        return _overlap_wildcards(first, second)
    if first.owner == EVERY_ADMIN:
        return _overlap_wildcard(second, first)
    if second.owner == EVERY_ADMIN:
        return _overlap_wildcard(first, second)
    return _overlap_literal(first, second)


class SignerUriPolicy:
    """The operator's grants, checked once; answers whether a URI is this tenant's."""

    def __init__(self, raw: Mapping[str, Sequence[str]] | None = None) -> None:
        raw = raw or {}
        check_setting(raw)
        self._grants = {owner.lower(): tuple(templates) for owner, templates in raw.items()}

    def prefixes(self, admin: str, app: str) -> list[str]:
        templates = self._grants.get(admin.lower(), ()) + self._grants.get(EVERY_ADMIN, ())
        return [expand(template, admin, app) for template in templates]

    def allows(self, admin: str, app: str, uri: str) -> bool:
        if _unsafe(uri):
            return False
        return any(_at_boundary(prefix, uri) for prefix in self.prefixes(admin, app))
