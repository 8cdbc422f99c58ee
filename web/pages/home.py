"""Home: the dashboard every signed-in user lands on."""

from __future__ import annotations

from typing import Annotated

from starlette.responses import Response

from web.core import PREFIX, ConsoleRouter, Viewer, page

router = ConsoleRouter()


@router.get(f"{PREFIX}/")
async def home(viewer: Annotated[Viewer, page()]) -> Response:
    return viewer.render("home.html")
