"""``groundex serve``: the web app (Gradio) over the same SQLite threads as ``groundex chat``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from groundex.agent.cli.common import stderr, user_errors
from groundex.agent.config import load_settings


def serve_command(
    host: Annotated[str, typer.Option("--host", help="interface to listen on; anything but 127.0.0.1 needs --token")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 7860,
    token: Annotated[Optional[str], typer.Option("--token", envvar="GROUNDEX_TOKEN", help="secret every request must carry (?token= once, or a Bearer header)")] = None,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="largest accepted upload")] = 10,
    profile: Annotated[Optional[str], typer.Option("--profile", help="configuration profile, e.g. gpu or cpu")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config file merged over the defaults")] = None,
    threads_db: Annotated[Optional[Path], typer.Option("--threads-db", help="SQLite file of the threads (default: <cache_dir>/threads.sqlite)")] = None,
) -> None:
    """Serve the chat as a web app: upload, extract, see boxes/masks, correct, download JSON."""
    from groundex.agent.web import ServeOptions

    options = ServeOptions(host, port, token, max_upload_mb)
    options.check()  # before any model loads
    settings = load_settings(config_file=config, profile=profile)
    try:
        import gradio  # noqa: F401
        import uvicorn
    except ImportError as error:
        from groundex.agent.errors import GroundexError

        raise GroundexError("the web app needs Gradio: pip install 'groundex[ui]'") from error
    from groundex.agent.checkpoints import sqlite_checkpointer
    from groundex.agent.extractor import Extractor
    from groundex.agent.session import THREADS_FILE
    from groundex.agent.web import WebChat, make_asgi_app

    database = threads_db or settings.cache_dir / THREADS_FILE
    extractor = Extractor.from_settings(settings, sqlite_checkpointer(database))
    app = make_asgi_app(WebChat(extractor, settings.cache_dir / "uploads"), options)
    stderr.print(f"groundex web app, profile {settings.profile}, threads in {database}: "
                 f"http://{host}:{port}/" + ("?token=<token>" if token else ""), highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("serve")(user_errors(serve_command))
