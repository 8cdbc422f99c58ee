"""The console's sections: where each page lives, its label, and who may open it.

A section that shows a department's data takes its roles from the gateway's role matrix for the
API call behind it (`api`), so the console offers exactly what the API would allow; a section on
the gateway's own data names its roles. The navigation shows a user only the sections their roles
open, and the page itself checks the same roles (`page(*section.roles)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.roles import RoleMatrix
from web.i18n import N_

if TYPE_CHECKING:
    from web.core import Viewer

_MATRIX = RoleMatrix()


def api_roles(path: str, method: str = "GET") -> tuple[str, ...]:
    """The roles the gateway's matrix allows to call a department path (admin passes anyway): a page
    shows a section, or a form, only to those who may make its call."""
    department = path.split("/")[3]
    rule = _MATRIX.lookup(department, method, path)
    if rule is None or rule.public:
        raise LookupError(f"the role matrix has no staff rule for {method} {path}")
    return () if rule.roles is None else tuple(sorted(rule.roles))


@dataclass(frozen=True)
class Section:
    key: str
    path: str
    label: str  # a msgid
    roles: tuple[str, ...]  # empty: any signed-in user


SECTIONS: list[Section] = [
    Section("home", "/console/", N_("Home"), ()),
]


def section(key: str, path: str, label: str, *, api: str | None = None, roles: tuple[str, ...] = ()) -> Section:
    """Registers a section (pages call this at import); `api` derives the roles from the matrix."""
    found = Section(key, path, label, api_roles(api) if api else roles)
    SECTIONS.append(found)
    return found


def visible_sections(viewer: Viewer) -> list[tuple[Section, str]]:
    if viewer.principal is None:
        return []
    return [(s, viewer.text(s.label)) for s in SECTIONS if viewer.allowed(s.roles)]
