"""The musicrnn page: generate, listen, look, download, convert a voice, and train on your own MIDI.

Start it with ``musicrnn ui`` (or ``python ui/app.py``); it listens on 127.0.0.1:7860.
A thin face over the library. This module holds what the tabs share (:class:`Page`: the
visitors' folders, the worker processes, the trainer, the model list) and assembles the
tabs, one module each: ``generate_tab`` (``musicrnn.tasks.music.sample_to_files``, the
function behind ``musicrnn sample``), ``transfer_tab`` (``musicrnn.style.transfer``) and
``train_tab`` (``musicrnn train`` in a background process, one job at a time:
``musicrnn.ui.jobs``). The page's own helpers live beside them: the model list
``catalog``, uploads ``uploads``, a request's budget ``budget``, shared field checks ``fields``,
and the command's flags ``command``.

Every visitor's uploads and results live in their own temporary folder, deleted when
they leave and when the server stops; trained models go to the runs folder under fresh
names, so nothing uploaded can overwrite a shipped checkpoint.
"""


import os

# The sampler's matrix products are tiny: one BLAS thread each, set before NumPy loads, and
# kept for the whole process (overlapping requests must not switch it back and forth).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import atexit
import itertools
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from musicrnn.ui import generate_tab, train_tab, transfer_tab  # standard library only at import

KEEP_RESULTS = 6           # per visitor: older generations are deleted
REQUEST_CPU_SECONDS = 180.0  # one request's computing time in a worker (env MUSICRNN_REQUEST_CPU_SECONDS)
WORKER_MEMORY = 3 * 2**30  # a worker process's address space (env MUSICRNN_WORKER_MEMORY_MB)


def _worker_start(server_pid: int, work: str | None = None) -> None:
    """In each worker process: exit when the server is gone (killed, even with SIGKILL), so
    that no worker outlives it, deleting the page's temporary folder ``work`` (uploads,
    training jobs' copies, results), which a killed server cannot delete itself. Every
    request then runs inside its budget (``musicrnn.ui.budget``)."""
    from musicrnn.ui.budget import limit_memory

    limit_memory(WORKER_MEMORY)

    def watch():
        while os.getppid() == server_pid:
            time.sleep(1.0)
        if work:
            shutil.rmtree(work, ignore_errors=True)
        os._exit(0)

    threading.Thread(target=watch, name="musicrnn-orphan-watch", daemon=True).start()


def in_budget(work, job: dict) -> dict:
    """In a worker: ``work(job)`` with at most ``REQUEST_CPU_SECONDS`` of computing time, in
    the worker's ``WORKER_MEMORY``; running past either is {"error": message}, and the worker
    serves the next request."""
    from musicrnn.ui.budget import BudgetExceeded, cpu_budget

    try:
        with cpu_budget(REQUEST_CPU_SECONDS):
            return work(job)
    except BudgetExceeded as e:
        return {"error": str(e)}
    except MemoryError:
        return {"error": f"this request needed more than the {WORKER_MEMORY / 2**30:g} GB a request may use; "
                         f"ask for less (a shorter piece, fewer variations, a smaller file)"}


def _warm(_):
    """Import what a request needs, once per worker process."""
    import musicrnn.pianoroll  # noqa: F401
    import musicrnn.render  # noqa: F401
    import musicrnn.tasks.music  # noqa: F401
    import musicrnn.ui.generate_tab  # noqa: F401  (render_song)
    import musicrnn.ui.transfer_tab  # noqa: F401  (render_transfer)

    return os.getpid()


class Page:
    """The state shared by all visitors: where files go, the trainer, the models."""

    def __init__(self, runs: str | os.PathLike = "runs", work: str | os.PathLike | None = None,
                 max_train_minutes: float | None = None, concurrency: int | None = None):
        from musicrnn.core.errors import SettingsError
        from musicrnn.shipped import checkpoints_dir
        from musicrnn.ui.jobs import MAX_MINUTES, Trainer

        self.runs = Path(runs).resolve()
        ship = checkpoints_dir().resolve()
        if self.runs == ship or ship in self.runs.parents:
            raise SettingsError(f"--runs {runs}: must not be inside the shipped checkpoints ({ship})")
        self.work = Path(work) if work else Path(tempfile.mkdtemp(prefix="musicrnn-ui-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.sessions = self.work / "sessions"
        self.trainer = Trainer(self.runs, self.work / "jobs", max_minutes=max_train_minutes or MAX_MINUTES)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.workers = max(1, concurrency or min(4, os.cpu_count() or 1))
        self._pool = None

    # --- the samplers ----------------------------------------------------------------------------
    def pool(self):
        """Worker processes, one a concurrent request: sampling is Python-bound, so threads
        in this process would share one core (the GIL); processes use them all, each on one
        BLAS thread. Started once, warmed up, and restarted if a worker dies."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_worker_start, initargs=(os.getpid(), str(self.work)))
            return self._pool

    def warm_up(self) -> None:
        list(self.pool().map(_warm, range(self.workers)))

    def run_job(self, work, job: dict) -> dict:
        """``work(job)`` in a worker process, inside a request's budget (``in_budget``)."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool().submit(in_budget, work, job).result()
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
            return {"error": "the worker stopped unexpectedly; try a shorter song, fewer variations or a shorter clip"}

    # --- per-visitor folders ------------------------------------------------------------------
    @staticmethod
    def _sid(request) -> str:
        """A visitor's session id, reduced to characters that cannot leave a folder."""
        return re.sub(r"[^A-Za-z0-9_-]", "", getattr(request, "session_hash", None) or "")

    def session_dir(self, request) -> Path:
        d = self.sessions / (self._sid(request) or "api")
        d.mkdir(parents=True, exist_ok=True)
        return d

    def new_result_dir(self, request) -> Path:
        base = self.session_dir(request)
        with self._lock:
            n = next(self._counter)
        d = base / f"gen-{n:05d}"
        d.mkdir()
        old = sorted(base.glob("gen-*"))[:-KEEP_RESULTS]
        for o in old:
            shutil.rmtree(o, ignore_errors=True)
        return d

    def end_session(self, request) -> None:
        sid = self._sid(request)
        if sid:
            shutil.rmtree(self.sessions / sid, ignore_errors=True)

    def cleanup(self) -> None:
        """Stop the workers and a running training (its best model stays), delete the files."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.trainer.shutdown()
        shutil.rmtree(self.work, ignore_errors=True)

    # --- models ------------------------------------------------------------------------------
    def models(self):
        from musicrnn.ui.catalog import find_models

        return find_models([self.runs])

    def model_choices(self) -> list[tuple[str, str]]:
        return [(e.label, e.name) for e in self.models()]


# --- the page ---------------------------------------------------------------------------------
def build(page: Page):
    """The page: one tab a module, over ``page``."""
    import gradio as gr

    from musicrnn.ui.fields import Errors

    errors = Errors(page.work)
    gen_limit = page.workers  # one worker process a request; more requests wait in the queue

    def refresh(request: gr.Request = None):
        return gr.update(choices=page.model_choices())

    # The page's modules take no `from __future__ import annotations`: Gradio finds the visitor's
    # request by the annotation gr.Request, which must be the class, not the string "gr.Request"
    # (with the string every visitor shared one folder and leave() deleted nothing).
    def leave(request: gr.Request = None):
        page.end_session(request)

    with gr.Blocks(title="musicrnn", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# musicrnn\nGenerate melodies (folk tunes, Bach chorales) or band pieces (tune, bass, "
                    "chords, drums) with a char-RNN or a transformer, or train one on your own MIDI files.")
        with gr.Tabs():
            model = generate_tab.tab(page, errors, gen_limit)
            transfer_tab.tab(page, errors, gen_limit)
            train_tab.tab(page, errors, model)
        demo.load(refresh, None, model, api_visibility="private")
        demo.unload(leave)
    demo.queue(default_concurrency_limit=gen_limit, max_size=200)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, runs: str = "runs",
           max_train_minutes: float | None = None, block: bool = True, concurrency: int | None = None):
    """Build and start the page; returns (demo, page). ``block=False`` returns at once."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")  # process-wide, so overlapping requests never oversubscribe
    page = Page(runs, max_train_minutes=max_train_minutes, concurrency=concurrency)
    page.warm_up()
    started = []  # the running demo, for the signal handler
    if block:  # `kill` (SIGTERM) stops the page like Ctrl-C does: cleanly, files deleted
        import signal

        def _terminate(signum, frame):
            server = getattr(started[0], "server", None) if started else None
            if server is not None:  # close the open connections at once (uvicorn waits for them, up to 5 s)
                import logging

                server.force_exit = True
                # the visitors' open streams are cancelled: expected now, not an error to print
                for name in ("uvicorn.error", "uvicorn.asgi", "uvicorn"):
                    logging.getLogger(name).setLevel(logging.CRITICAL)
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)  # Ctrl-C: the same, as fast
        print(f"musicrnn ui: temporary files in {page.work} (deleted when the page stops)", flush=True)
    os.environ["GRADIO_TEMP_DIR"] = str(page.work / "gradio")  # uploads and served copies: cleaned with the page
    atexit.register(page.cleanup)
    demo = build(page)
    started.append(demo)
    demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                allowed_paths=[str(page.work)], max_file_size="250mb", show_error=True, quiet=not block,
                footer_links=["api"])
    return demo, page


if __name__ == "__main__":  # python ui/app.py [flags] is `musicrnn ui [flags]`
    from musicrnn.ui.command import main

    sys.exit(main())
