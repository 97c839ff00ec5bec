"""The web console at /console: server-rendered pages over the application, for support staff."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from jinja2 import Environment, FileSystemLoader
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from metaledger.api.bootstrap import Container
from metaledger.api.http.console.administrator import ConsoleLogin, administrator
from metaledger.api.http.console.routes import (
    Console,
    PageError,
    SignInRequired,
    get_console,
    redirect,
    render,
    router,
    user_path,
)
from metaledger.api.http.console.session import PATH, Sessions

HERE = Path(__file__).parent


def templates() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates change with the package, not while it serves
    )
    environment.globals["user_path"] = user_path
    environment.globals["console_path"] = PATH
    return environment


def install_console(app: FastAPI, container: Container) -> None:
    """Mounts the console; on first start with no administrator configured, one is made and
    its password printed once."""
    settings = container.settings
    admin = administrator(
        settings.data_dir,
        settings.console_admin_username,
        settings.console_admin_password,
        container.login.passwords,
    )
    app.state.console = Console(
        container,
        Sessions(container.signing_key, f"{settings.issuer}console", admin),
        ConsoleLogin.beside(container.login, admin),
        templates(),
    )
    app.include_router(router)
    # follow_symlink: an editable install links each file from a tree of its own.
    app.mount(
        f"{PATH}/static",
        StaticFiles(directory=HERE / "static", follow_symlink=True),
        name="console-static",
    )

    async def sign_in_first(request: Request, error: Exception) -> Response:
        assert isinstance(error, SignInRequired)
        return redirect(f"{PATH}/login?{urlencode({'next': error.path})}")

    async def page_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, PageError)
        console = await get_console(request)
        session = console.sessions.read(request)
        return render(console, "error.html", error.status, session=session, error=error)

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(PageError, page_error)
