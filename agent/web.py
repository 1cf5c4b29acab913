"""``groundex serve``: the chat as a Gradio web app, over the same threads as the terminal chat.

Upload an image and the post's text, choose or type the entity types, see the image with boxes, masks and
labels plus a table, chat follow-ups (``agent.followups``), switch threads, download the JSON.

Security: the app listens on 127.0.0.1 unless told otherwise, and on any other host it refuses to start without
a token (``--token``); with a token every request must carry it (``?token=`` once, which sets a cookie, or an
``Authorization: Bearer`` header). Uploads are size-limited by Gradio (``max_upload_mb``) and arrive as decoded
pixels (``gr.Image(type="pil")``), which are checked and re-saved as PNG under ``<cache_dir>/uploads/`` by
their content hash: the server never opens a path that a client names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from groundex.agent.contract import read_planner_answer
from groundex.agent.display import TRIPLE_COLUMNS, triple_rows
from groundex.agent.errors import GroundexError
from groundex.agent.extractor import Extractor
from groundex.agent.records import encode_prediction
from groundex.agent.session import ChatSession, TurnOutcome, list_threads
from groundex.agent.state import ExtractionOptions
from groundex.agent.type_presets import PRESET_NAMES, load_type_schema
from groundex.tools.images import MAX_IMAGE_PIXELS, load_image

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_COOKIE = "groundex_token"
TABLE_HEADERS = list(TRIPLE_COLUMNS)


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 7860
    token: str | None = None
    max_upload_mb: int = 10

    def check(self) -> None:
        if self.host not in LOCAL_HOSTS and not self.token:
            raise GroundexError(f"serving on {self.host} exposes the app beyond this machine: give --token "
                                "(a secret every request must carry), or keep the default --host 127.0.0.1")
        if self.max_upload_mb <= 0:
            raise GroundexError("--max-upload-mb must be positive")


def store_upload(image: Image.Image, upload_dir: Path) -> Path:
    """Check decoded upload pixels and save them as ``<sha256>.png``; the path is ours, never the client's."""
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise GroundexError(f"the image is {image.width}x{image.height} pixels; the limit is {MAX_IMAGE_PIXELS:,}")
    rgb = image.convert("RGB")
    digest = hashlib.sha256(rgb.tobytes() + f"{rgb.width}x{rgb.height}".encode()).hexdigest()[:24]
    path = upload_dir / f"{digest}.png"
    if not path.is_file():
        upload_dir.mkdir(parents=True, exist_ok=True)
        rgb.save(path)
    return path


def chat_history(session: ChatSession) -> list[dict[str, str]]:
    """The thread as chat bubbles: the user's messages and groundex's answers (planner JSON is summarised)."""
    state = session.state()
    if state is None:
        return []
    bubbles = []
    for message in state.messages:
        if message.type == "human":
            blocks = message.content if isinstance(message.content, list) else [{"type": "text", "text": message.content}]
            text = " ".join(b.get("text", "") for b in blocks if isinstance(b, dict))
            bubbles.append({"role": "user", "content": text})
        elif message.type == "ai":
            text = str(message.content)
            if text.lstrip().startswith("{") or message.tool_calls:  # a planner answer, read as the graph reads it
                planned = read_planner_answer(text, message.tool_calls).entities
                text = f"(planned {len(planned)} entities, {len(message.tool_calls)} to locate)"
            bubbles.append({"role": "assistant", "content": text})
    return bubbles


class WebChat:
    """The app's handlers; each browser tab holds its thread id in a ``gr.State``."""

    def __init__(self, extractor: Extractor, upload_dir: Path):
        self.extractor, self.upload_dir = extractor, upload_dir

    def session(self, thread_id: str | None, types: str = "gmner", masks: bool = False) -> ChatSession:
        return ChatSession(self.extractor, load_type_schema(types or "gmner"), ExtractionOptions(masks=masks), thread_id)

    def view(self, session: ChatSession, outcome: TurnOutcome | None = None, notice: str = "") -> tuple[Any, ...]:
        from groundex.agent.overlay import draw_overlay

        prediction = session.prediction
        overlay = None
        if prediction is not None and session.image_path is not None:
            overlay = draw_overlay(load_image(session.image_path), prediction.triples)
        warnings = list(outcome.result.warnings) if outcome else []
        status = "\n".join([*(f"warning: {w}" for w in warnings), notice]).strip() or f"thread {session.thread_id}"
        return (session.thread_id, overlay, triple_rows(prediction), chat_history(session), status,
                self.thread_choices(session.thread_id))

    def thread_choices(self, current: str | None):
        import gradio as gr

        threads = list_threads(self.extractor)
        choices = [(f"{t.thread_id}: {t.text[:40]}", t.thread_id) for t in threads]
        return gr.update(choices=choices, value=current if any(t.thread_id == current for t in threads) else None)

    def extract(self, image: Image.Image | None, text: str, types: str, masks: bool, thread_id: str | None):
        import gradio as gr

        if not (text or "").strip():
            raise gr.Error("Type the post's text first.")
        try:
            image_path = store_upload(image, self.upload_dir) if image is not None else None
            session = self.session(None, types, masks)  # a new post is a new thread
            session.image_path = image_path
            return self.view(session, session.send(text))
        except GroundexError as error:
            raise gr.Error(str(error)) from None

    def follow_up(self, message: str, thread_id: str | None):
        import gradio as gr

        if not thread_id:
            raise gr.Error("Extract a post first; follow-ups refer to its entities.")
        try:
            session = self.session(thread_id)
            return (*self.view(session, session.send(message)), "")
        except GroundexError as error:
            raise gr.Error(str(error)) from None

    def open_thread(self, thread_id: str | None):
        import gradio as gr

        if not thread_id:
            raise gr.Error("Choose a thread.")
        return self.view(self.session(thread_id))

    def download(self, thread_id: str | None) -> str:
        import gradio as gr

        prediction = self.session(thread_id).prediction if thread_id else None
        if prediction is None:
            raise gr.Error("Nothing to download yet.")
        path = Path(tempfile.mkdtemp(prefix="groundex-")) / f"{prediction.post_id}.json"
        path.write_text(json.dumps(encode_prediction(prediction), ensure_ascii=False, indent=2), encoding="utf-8")
        return str(path)


@dataclass(frozen=True)
class ExamplePost:
    """A post the first screen offers: an example photo (``examples/images/``), its text and the types to ask for."""

    image: Path
    text: str
    types: str


def example_posts(folder: Path | None = None) -> list[ExamplePost]:
    """The example posts whose photos are present (a checkout or an editable install has them; a wheel does not)."""
    folder = folder or Path(__file__).resolve().parents[1] / "examples" / "images"
    posts = [ExamplePost(folder / "astronaut.png", "Astronaut Eileen Collins waves before the NASA launch in Florida",
                         "gmner"),
             ExamplePost(folder / "coffee.png", "Morning flat white at Pikolo Espresso Bar in Vancouver",
                         "drink, cafe, city")]
    return [post for post in posts if post.image.is_file()]


def build_app(chat: WebChat):
    """The Gradio Blocks (element ids are stable: the browser test and scripts use them)."""
    import gradio as gr

    with gr.Blocks(title="groundex") as app:
        gr.Markdown("## groundex: grounded named entities in social-media posts")
        thread = gr.State(None)
        with gr.Row():
            with gr.Column(scale=2):
                image = gr.Image(type="pil", label="post image", sources=["upload"], elem_id="image-input")
                text = gr.Textbox(label="post text", lines=3, elem_id="post-text")
                posts = example_posts()
                type_choices = list(dict.fromkeys([*PRESET_NAMES, *(e.types for e in posts)]))  # presets, and lists as typed
                types = gr.Dropdown(choices=type_choices, value="gmner", allow_custom_value=True,
                                    label="entity types (a preset, or type names: athlete, team, stadium)",
                                    elem_id="types")
                masks = gr.Checkbox(label="masks", value=False, elem_id="masks")
                extract = gr.Button("Extract", variant="primary", elem_id="extract")
                # on the first screen, under the button: one click shows a result
                examples = gr.Examples(examples=[[str(e.image), e.text, e.types] for e in posts],
                                       inputs=[image, text, types], label="examples: click one to run it",
                                       elem_id="examples") if posts else None
            with gr.Column(scale=3):
                overlay = gr.Image(type="pil", label="entities in the image", interactive=False, elem_id="overlay")
                table = gr.Dataframe(headers=TABLE_HEADERS, label="triples", interactive=False, elem_id="triples")
        status = gr.Textbox(label="status", interactive=False, elem_id="status")
        with gr.Row():
            with gr.Column(scale=3):
                history = gr.Chatbot(label="thread", height=260, elem_id="history")
                message = gr.Textbox(label="follow-up", elem_id="follow-up",
                                     placeholder="e.g. Messi is not in the picture / the box for Messi is the man on the left")
                send = gr.Button("Send", elem_id="send")
            with gr.Column(scale=2):
                threads = gr.Dropdown(label="threads", choices=[], elem_id="threads")
                open_button = gr.Button("Open thread", elem_id="open-thread")
                download_button = gr.Button("Download JSON", elem_id="download")
                download_file = gr.File(label="prediction JSON", interactive=False, elem_id="download-file")
        outputs = [thread, overlay, table, history, status, threads]
        if examples is not None:  # a click fills the inputs, then extracts them as a new thread
            examples.load_input_event.then(lambda picture, post, wanted: chat.extract(picture, post, wanted, False, None),
                                           [image, text, types], outputs)
        extract.click(chat.extract, [image, text, types, masks, thread], outputs)
        send.click(chat.follow_up, [message, thread], [*outputs, message])
        message.submit(chat.follow_up, [message, thread], [*outputs, message])
        open_button.click(chat.open_thread, [threads], outputs)
        download_button.click(chat.download, [thread], download_file)
        app.load(lambda: chat.thread_choices(None), None, threads)
    return app


def token_guard(token: str):
    """ASGI middleware: every request carries the token (query once -> cookie, or a Bearer header)."""
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import PlainTextResponse

    def valid(candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), token.encode())

    class TokenGuard(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or None
            from_query = request.query_params.get("token")
            if not (valid(request.cookies.get(TOKEN_COOKIE)) or valid(bearer) or valid(from_query)):
                return PlainTextResponse("groundex: this server needs its token: open it with ?token=<token>", 401)
            response = await call_next(request)
            if valid(from_query):
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response

    return TokenGuard


def make_asgi_app(chat: WebChat, options: ServeOptions):
    import gradio as gr
    from fastapi import FastAPI

    options.check()
    server = FastAPI()
    if options.token:
        server.add_middleware(token_guard(options.token))
    return gr.mount_gradio_app(server, build_app(chat), path="/", max_file_size=f"{options.max_upload_mb}mb",
                               server_name=options.host, server_port=options.port, footer_links=[])
