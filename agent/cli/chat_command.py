"""``groundex chat``: extract, look and correct in the terminal; threads persist in SQLite across restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from groundex.agent.cli.common import stderr, stdout, user_errors
from groundex.agent.config import load_settings
from groundex.agent.display import TRIPLE_COLUMNS, triple_rows
from groundex.agent.errors import GroundexError

HELP = """Type the post's text to start; then follow-ups such as
  "Messi is not in the picture", "the box for Messi is the man on the left", "Madrid is an ORG",
  "remove Madrid", "also find brands", "use types: athlete, team, stadium", or anything for the planner.
Commands: /image PATH  /types SPEC  /masks on|off  /save FILE  /show  /threads  /thread ID  /new  /help  /quit"""


def _triples_table(prediction) -> Table:
    table = Table(title=f"post {prediction.post_id}: {len(prediction.triples)} entities", title_justify="left")
    for column in ("#", *TRIPLE_COLUMNS):
        table.add_column(column)
    for index, row in enumerate(triple_rows(prediction), start=1):
        table.add_row(str(index), *row)
    return table


class TerminalChat:
    """The read-eval-print loop; ``overlay_dir`` gets ``<thread>.png``, refreshed after every turn."""

    def __init__(self, session, overlay_dir: Path):
        self.session, self.overlay_dir = session, overlay_dir

    def show(self, outcome=None) -> None:
        from groundex.agent.overlay import save_overlay
        from groundex.tools.images import load_image

        if outcome is not None and outcome.reply:
            stdout.print(f"[bold cyan]groundex:[/bold cyan] {outcome.reply}", highlight=False)
        prediction = self.session.prediction
        if prediction is None:
            stdout.print("no post yet in this thread: type its text", highlight=False)
            return
        stdout.print(_triples_table(prediction))
        for warning in outcome.result.warnings if outcome else ():
            stderr.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        if self.session.image_path is not None:
            path = save_overlay(load_image(self.session.image_path), prediction.triples,
                                self.overlay_dir / f"{self.session.thread_id}.png")
            stdout.print(f"overlay: {path}", highlight=False)

    def command(self, line: str) -> bool:
        """Run one /command; False to quit."""
        from groundex.agent.session import list_threads
        from groundex.agent.type_presets import load_type_schema
        from groundex.tools.images import load_image

        name, _, argument = line[1:].partition(" ")
        argument = argument.strip()
        if name in ("quit", "exit", "q"):
            return False
        if name == "help":
            stdout.print(HELP, highlight=False)
        elif name == "image":
            if not argument:
                raise GroundexError("/image needs a path, e.g. /image photo.jpg")
            load_image(Path(argument).expanduser())  # a bad file is reported before anything runs
            self.show(self.session.set_image(Path(argument).expanduser()))
            stdout.print(f"image: {argument}", highlight=False)
        elif name == "types":
            if not argument:
                stdout.print("types: " + ", ".join(t.name for t in self.session.types), highlight=False)
            else:
                self.show(self.session.set_types(load_type_schema(argument)))
        elif name == "masks":
            if argument not in ("on", "off"):
                raise GroundexError("/masks takes on or off")
            self.show(self.session.set_masks(argument == "on"))
        elif name == "save":
            if not argument:
                raise GroundexError("/save needs a file name, e.g. /save post.json")
            stdout.print(f"saved {self.session.save(Path(argument).expanduser())}", highlight=False)
        elif name == "show":
            self.show()
        elif name == "threads":
            table = Table("thread", "post", "entities", "turns", "current")
            for thread in list_threads(self.session.extractor):
                table.add_row(thread.thread_id, thread.text[:60], str(thread.entities), str(thread.turns),
                              "*" if thread.thread_id == self.session.thread_id else "")
            stdout.print(table)
        elif name == "thread":
            self.session.switch(argument or None)
            stdout.print(f"thread {self.session.thread_id}", highlight=False)
            self.show()
        elif name == "new":
            self.session.switch(None)
            stdout.print(f"new thread {self.session.thread_id}: /image PATH, then type the post's text", highlight=False)
        else:
            raise GroundexError(f"unknown command /{name}; /help lists them")
        return True

    def loop(self) -> None:
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                return
            if not line:
                continue
            try:
                if line.startswith("/"):
                    if not self.command(line):
                        return
                else:
                    self.show(self.session.send(line))
            except GroundexError as error:  # a user mistake ends the turn, never the chat
                stderr.print(f"[bold red]error:[/bold red] {error}", highlight=False)


def chat_command(
    image: Annotated[Optional[Path], typer.Option("--image", help="the post's image")] = None,
    thread: Annotated[Optional[str], typer.Option("--thread", help="resume this thread (see /threads)")] = None,
    types: Annotated[str, typer.Option("--types", help="a preset (gmner, fmnerg, fmnerg-coarse), A,B,C or a file")] = "gmner",
    masks: Annotated[bool, typer.Option("--masks", help="also segment each located entity")] = False,
    profile: Annotated[Optional[str], typer.Option("--profile", help="configuration profile, e.g. gpu or cpu")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config file merged over the defaults")] = None,
    threads_db: Annotated[Optional[Path], typer.Option("--threads-db", help="SQLite file of the threads (default: <cache_dir>/threads.sqlite)")] = None,
    overlay_dir: Annotated[Path, typer.Option("--overlay-dir", help="where <thread>.png overlays are written")] = Path("groundex-chat"),
) -> None:
    """Chat about a post: see its entities as a table and an overlay PNG, correct them in follow-up turns."""
    from groundex.agent.checkpoints import sqlite_checkpointer
    from groundex.agent.extractor import Extractor
    from groundex.agent.session import THREADS_FILE, ChatSession
    from groundex.agent.state import ExtractionOptions
    from groundex.agent.type_presets import load_type_schema
    from groundex.tools.images import load_image

    if image is not None:
        load_image(image)
    schema = load_type_schema(types)
    settings = load_settings(config_file=config, profile=profile)
    database = threads_db or settings.cache_dir / THREADS_FILE
    extractor = Extractor.from_settings(settings, sqlite_checkpointer(database))
    session = ChatSession(extractor, schema, ExtractionOptions(masks=masks), thread, image)
    if thread is not None and not session.started:
        raise GroundexError(f"no thread {thread!r} in {database}; start one without --thread")
    chat = TerminalChat(session, overlay_dir)
    stdout.print(f"groundex chat, profile {settings.profile}, thread {session.thread_id} (threads in {database})",
                 highlight=False)
    stdout.print(HELP, highlight=False)
    if session.started:
        chat.show()
    elif image is None:
        stdout.print("no image yet: /image PATH (or type a text-only post)", highlight=False)
    chat.loop()
    stdout.print(f"bye; resume with: groundex chat --thread {session.thread_id}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("chat")(user_errors(chat_command))
