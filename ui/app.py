"""The musicrnn page: generate, listen, look, download, and train on your own MIDI.

Start it with ``musicrnn ui`` (or ``python ui/app.py``); it listens on 127.0.0.1:7860.
A thin face over the library: generation is ``musicrnn.tasks.music.sample_to_files``
(the function behind ``musicrnn sample``), the picture ``musicrnn.pianoroll``, the model
list ``musicrnn.ui.catalog``, uploads ``musicrnn.ui.uploads`` and training ``musicrnn.ui.jobs``
(``musicrnn train`` in a background process, one job at a time).

Every visitor's uploads and results live in their own temporary folder, deleted when
they leave and when the server stops; trained models go to the runs folder under fresh
names, so nothing uploaded can overwrite a shipped checkpoint.
"""

from __future__ import annotations

import os

# The sampler's matrix products are tiny: one BLAS thread each, set before NumPy loads, and
# kept for the whole process (overlapping requests must not switch it back and forth).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import atexit
import dataclasses
import itertools
import json
import math
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from musicrnn.shipped import DEFAULT_MODEL  # standard library only

MAX_SECONDS = 300.0        # one song on the page (the command line allows an hour)
MAX_VARIATIONS = 8
MAX_PRIMER_BYTES = 2 * 2**20
MAX_AUDIO_BYTES = 40 * 2**20  # an uploaded or recorded clip (a primer to transcribe, a voice to convert)
PRIMER_TYPES = (".mid", ".midi", ".wav", ".flac", ".ogg", ".mp3")
DEMO_VOICE = Path(__file__).resolve().parent.parent / "corpora" / "voice"  # the repository's demo clips


def _demo(name: str) -> str | None:
    p = DEMO_VOICE / name
    return str(p) if p.is_file() else None
KEEP_RESULTS = 6           # per visitor: older generations are deleted
REQUEST_CPU_SECONDS = 180.0  # one request's computing time in a worker (env MUSICRNN_REQUEST_CPU_SECONDS)
WORKER_MEMORY = 3 * 2**30  # a worker process's address space (env MUSICRNN_WORKER_MEMORY_MB)
AS_GENERATED = "as generated"
NO_FLUIDSYNTH_NOTE = ("FluidSynth is not installed here, so this audio is plain sine tones "
                      "(install libfluidsynth3 and pyfluidsynth for real instruments).")


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

    def run_song(self, job: dict) -> dict:
        return self.run_job(render_song, job)

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


# --- generation ------------------------------------------------------------------------------
def _number(value, default, kind, name, lo, hi):
    """A page field as a number in [lo, hi]; empty means the default; anything else a message."""
    if value is None or value == "":
        return default
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{name}: {value!r} must be between {lo:g} and {hi:g}")
    if kind is int:
        if v != int(v):
            raise ValueError(f"{name}: {value!r} must be a whole number")
        return int(v)
    return v


def _program(instrument) -> int | None:
    """The GM program of the instrument field: "73 Flute", "73", 73 or "flute"; None: as generated."""
    from musicrnn.pianoroll import GM_PROGRAMS

    if instrument in (None, "", AS_GENERATED):
        return None
    text = str(instrument).strip()
    m = re.match(r"(\d+)(\.0)?(\s|$)", text)
    names = [n.lower() for n in GM_PROGRAMS]
    if m and int(m.group(1)) < 128:
        return int(m.group(1))
    if not m and text.lower() in names:
        return names.index(text.lower())
    raise ValueError(f"instrument {instrument!r}: choose a General MIDI instrument from the list (0 to 127)")


def instrument_choices() -> list[str]:
    from musicrnn.pianoroll import GM_PROGRAMS

    return [AS_GENERATED] + [f"{i} {name}" for i, name in enumerate(GM_PROGRAMS)]


def _cell(x) -> str:
    """A statistic in the table; none (a corpus recorded before it existed) or NaN (e.g. the
    repeat rates of a song too short to hold two bars) shows as a dash."""
    return "—" if x is None or x != x else f"{x:.3f}"


def stats_markdown(result: dict, model_name: str) -> str:
    from musicrnn.tasks.music import compare_stats

    gen, corpus = result.get("statistics"), result.get("corpus_statistics")
    if not gen:
        return ""
    rows = compare_stats(gen, corpus)
    label = {"scale_consistency": "scale consistency (share of notes in one diatonic scale)",
             "empty_bar_rate": "empty bars (share)", "notes_per_bar": "notes per bar",
             "pitch_range": "pitch range (semitones)", "invalid_token_rate": "tokens the decoder rejected (share)",
             "bar_repeat_rate": "bars that repeat an earlier bar exactly (share)",
             "phrase_repeat_rate": "2-bar phrases that repeat an earlier one exactly (share)",
             "pitch_class_distance": "pitch-class distance to the corpus (0 = same)"}
    head = f"corpus ({corpus['pieces']} held-out pieces)" if corpus else "corpus"
    lines = [f"| statistic | this song ({gen['pieces']} piece{'s' if gen['pieces'] != 1 else ''}) | {head} |",
             "|---|---:|---:|"]
    for m, g, c in rows:
        lines.append(f"| {label.get(m, m)} | {_cell(g)} | {_cell(c)} |")
    if not corpus:
        lines.append(f"\n*{model_name} has no corpus statistics stored (a model trained before they were recorded).*")
    return "\n".join(lines)


def make_song(page: Page, model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument,
              request=None, progress=None) -> dict:
    """Validate the page's fields, generate, render audio and pictures into a fresh folder
    of this visitor. Raises ValueError (and the library's errors) with readable messages."""
    from musicrnn.ui.catalog import resolve
    from musicrnn.tasks.music import new_seed

    say = progress or (lambda *a, **k: None)
    temperature = _number(temperature, 0.0, float, "temperature", 0.0, 5.0) or None  # 0: the model's own
    top_k = _number(top_k, 0, int, "top-k", 0, 100_000)
    top_p = _number(top_p, 1.0, float, "top-p", 0.01, 1.0)
    seconds = _number(seconds, 30.0, float, "length (seconds)", 1.0, MAX_SECONDS)
    n = _number(variations, 1, int, "variations", 1, MAX_VARIATIONS)
    seed = _number(seed, -1, int, "seed", -1, 2**63 - 1)
    seed = new_seed() if seed < 0 else seed
    program = _program(instrument)
    try:
        entry = resolve(model, page.models())
    except LookupError as e:
        raise ValueError(str(e)) from None
    primer_path = None
    if primer:
        primer_path = Path(primer if isinstance(primer, (str, os.PathLike)) else primer.name)
        if not primer_path.is_file():
            raise ValueError("the primer upload is missing; upload it again")
        limit = MAX_PRIMER_BYTES if primer_path.suffix.lower() in (".mid", ".midi") else MAX_AUDIO_BYTES
        if primer_path.stat().st_size > limit:
            raise ValueError(f"primer {primer_path.name}: larger than {limit // 2**20} MB; "
                             f"use a shorter piece to continue")
    out = page.new_result_dir(request)
    say(0.05, desc=f"generating {n} x {seconds:g} s with {entry.name}")
    job = dict(checkpoint=str(entry.path), name=entry.name, out=str(out), n=n, seconds=seconds,
               primer=str(primer_path) if primer_path else None, temperature=temperature, top_k=top_k, top_p=top_p,
               seed=seed, program=program)
    res = page.run_song(job)
    if "error" in res:
        raise ValueError(res["error"])
    say(1.0, desc="done")
    return res


def render_song(job: dict) -> dict:
    """Sample, write MIDI and WAV, draw the piano rolls: the work of one request, run in a
    worker process (see Page.run_song). Errors come back as {"error": message}."""
    from musicrnn.codec import MidiError
    from musicrnn.core.errors import CheckpointError, DataError, SettingsError
    from musicrnn.pianoroll import pianoroll_png
    from musicrnn.tasks.music import sample_to_files

    out = Path(job["out"])
    try:
        res = sample_to_files(job["checkpoint"], out / "song.mid", n=job["n"], seconds=job["seconds"],
                              primer=job["primer"], temperature=job["temperature"], top_k=job["top_k"],
                              top_p=job["top_p"], seed=job["seed"], wav=out / "song.wav", program=job["program"],
                              stats=True)
    except (MidiError, SettingsError, CheckpointError, DataError, ValueError, OSError) as e:
        return {"error": str(e)}
    for i, piece in enumerate(res["pieces"]):
        title = f"{job['name']} · seed {job['seed']}" + (f" · variation {i + 1}" if job["n"] > 1 else "")
        try:
            piece["png"] = str(pianoroll_png(piece["midi"], Path(piece["midi"]).with_suffix(".png"), title=title))
        except (MidiError, ValueError, OSError) as e:  # the generated piece, not an upload
            return {"error": f"the generated piece could not be drawn ({getattr(e, 'problem', e)})"}
    res["model"] = job["name"]
    return res


def info_markdown(res: dict, i: int = 0) -> str:
    p = res["pieces"][i]
    text = (f"**{res['model']}**, seed **{res['seed']}**, temperature {res['temperature']:g}: "
            f"{p['notes']} notes, {p['seconds']} s"
            + (f", {p['invalid_tokens']} tokens rejected by the decoder" if p["invalid_tokens"] else ""))
    if (res.get("primer") or {}).get("note"):
        text += f"\n\n**Primer:** {res['primer']['note']}"
    if p.get("engine") == "sine":
        text += f"\n\n**Note:** {NO_FLUIDSYNTH_NOTE}"
    return text


# --- style transfer ---------------------------------------------------------------------------
def voice_choices(page: Page) -> list[tuple[str, str]]:
    """Trained voice models (shipped and under the runs folder), for the Style transfer tab."""
    from musicrnn.ui.catalog import find_models

    return [(e.label, e.name) for e in find_models([page.runs], task="voice")]


def make_transfer(page: Page, source, target_clip, voice, transpose, formant, index_rate, protect,
                  request=None) -> dict:
    """Check the tab's fields, convert, and draw the before/after pitch plot into a fresh
    folder of this visitor. Returns {wav, png, info (dict)}; errors as ValueError and the
    library's one-line errors."""
    from musicrnn.ui.catalog import find_models, resolve
    from musicrnn.style.transfer import Controls

    def path_of(f, what):
        if not f:
            return None
        p = Path(f if isinstance(f, (str, os.PathLike)) else f.name)
        if not p.is_file():
            raise ValueError(f"the {what} upload is missing; upload it again")
        if p.stat().st_size > MAX_AUDIO_BYTES:
            raise ValueError(f"{what} {p.name}: larger than {MAX_AUDIO_BYTES // 2**20} MB; use a shorter clip")
        return p

    src = path_of(source, "source clip")
    if src is None:
        raise ValueError("no source clip: upload or record the voice to convert")
    clip = path_of(target_clip, "target clip")
    transpose, formant = (str(v).strip() if v is not None else "" for v in (transpose, formant))
    controls = Controls(transpose=_number(transpose, None, float, "transpose", -36, 36),
                        formant=_number(formant, None, float, "formant", 0.5, 2.0),
                        index_rate=_number(index_rate, 0.5, float, "index rate", 0.0, 1.0),
                        protect=_number(protect, 0.33, float, "protect", 0.0, 1.0)).check()
    if clip is not None:
        target, name = clip, clip.name
    else:
        voices = find_models([page.runs], task="voice")
        if not voices:
            raise ValueError("no target: upload a clip of the target voice (no trained voice model is here yet)")
        try:
            entry = resolve(voice or None, voices)
        except LookupError as e:
            raise ValueError(str(e)) from None
        target, name = entry.path, entry.name
    out = page.new_result_dir(request)
    res = page.run_job(render_transfer, dict(source=str(src), target=str(target), name=name, out=str(out),
                                             controls=dataclasses.asdict(controls)))
    if "error" in res:
        raise ValueError(res["error"])
    return res


def render_transfer(job: dict) -> dict:
    """Convert, re-read, measure and draw: the work of one transfer request, run in a worker
    process (``Page.run_job``). Errors come back as {"error": message}."""
    from musicrnn.codec import MidiError
    from musicrnn.core.errors import AudioError, CheckpointError, DataError, SettingsError

    try:
        return _render_transfer(job)
    except (AudioError, MidiError, SettingsError, CheckpointError, DataError, ValueError, OSError) as e:
        return {"error": str(e)}


def _render_transfer(job: dict) -> dict:
    from musicrnn.style.transfer import Controls, Target, clip_f0_corr, pitch_plot_png, transfer_file

    src, out, name = Path(job["source"]), Path(job["out"]), job["name"]
    res = transfer_file(src, Target(Path(job["target"])), out / "converted.wav", Controls(**job["controls"]))
    import soundfile as sf

    y_src, sr = sf.read(src, dtype="float32", always_2d=True)
    y_out, sr_out = sf.read(out / "converted.wav", dtype="float32")
    y_src = y_src.mean(1)
    if sr != sr_out:  # telephone-rate input was converted at 16 kHz
        import librosa

        y_src, sr = librosa.resample(y_src, orig_sr=sr, target_sr=sr_out), sr_out
    png = pitch_plot_png(y_src, y_out, sr, res.get("transpose", 0.0), out / "pitch.png",
                         title=f"{src.name} -> {name} ({res['tier']})")
    info = {"target": name, "tier": res["tier"], "seconds": res["seconds"], "transpose": res.get("transpose"),
            "formant": res.get("formant"), "rtf": res["rtf"], "f0_corr": clip_f0_corr(y_src, y_out, sr),
            "peak": res["peak"]}
    return {"wav": res["output"], "png": png, "info": info}


# --- training ---------------------------------------------------------------------------------
def start_training(page: Page, files, preset, minutes) -> "Job":  # noqa: F821
    """Collect the uploads into a new job folder, check them, and queue the job."""
    from musicrnn.codec import MidiError, read_midi
    from musicrnn.ui.jobs import slug
    from musicrnn.ui.uploads import UploadError, collect_midi

    page.trainer.check(preset, minutes)  # before anything is unpacked
    paths = [Path(f if isinstance(f, (str, os.PathLike)) else f.name) for f in (files or [])]
    if not paths:
        raise ValueError("no files uploaded: add a zip of MIDI files, or several .mid files")
    label = paths[0].stem if len(paths) == 1 else f"{paths[0].stem}-and-{len(paths) - 1}-more"
    jid, folder = page.trainer.new_job_folder()
    try:
        got = collect_midi(paths, folder / slug(label))  # the folder's name is the corpus name in the model list
        skipped = list(got.skipped)
        usable = 0
        for name in list(got.files):
            try:
                read_midi(got.folder / name)
                usable += 1
            except MidiError as e:
                skipped.append(f"{name}: {e.problem}")
                (got.folder / name).unlink(missing_ok=True)
        if not usable:
            raise UploadError("none of the uploaded MIDI files could be read: " + "; ".join(skipped[:3]))
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return page.trainer.submit(jid, got.folder, label, preset, minutes, skipped)


def status_markdown(st: dict, ahead: int = 0) -> str:
    state = st["state"]
    head = {"waiting": f"waiting: {ahead} job{'s' if ahead != 1 else ''} ahead (one training runs at a time)",
            "running": "training", "done": "done", "stopped": "stopped", "failed": "failed",
            "cancelled": "cancelled"}[state]
    parts = [f"**{head}** — model `{st['name']}`"]
    if st["total"]:
        parts.append(f"step {st['step']} of {st['total']}" + (f", epoch {st['epoch']}" if st["epoch"] else "")
                     + f", {st['elapsed']:.0f} s")
    if st["train_bits"] is not None:
        parts.append(f"training loss {st['train_bits']:.3f} bits/token")
    if st["best_valid_bits"] is not None:
        parts.append(f"best validation {st['best_valid_bits']:.3f} bits/token")
    text = " · ".join(parts)
    if st["message"]:
        text += f"\n\n{st['message']}"
    if state == "done" or (state == "stopped" and st["has_model"]):
        text += "\n\nThe model is now in the Generate tab's list."
    return text


def skipped_markdown(skipped: list[str]) -> str:
    if not skipped:
        return ""
    shown = skipped[:30]
    more = f"\n- … and {len(skipped) - 30} more" if len(skipped) > 30 else ""
    return f"**Skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''}:**\n" + "\n".join(
        f"- `{s}`" for s in shown) + more


TRAIN_COLOR, VALID_COLOR = "#1f77b4", "#d62728"


def loss_plot_png(st: dict, path: Path) -> str:
    """The live loss plot: training (smoothed) and validation bits/token against steps."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from musicrnn.core.files import atomic_write

    fig = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for pts, color, name in ((st["train_curve"], TRAIN_COLOR, "training"), (st["valid_curve"], VALID_COLOR, "validation")):
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, color=color, lw=2, marker="o" if len(pts) < 30 else None, ms=3, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("bits/token")
    if st["total"]:
        ax.set_xlim(0, st["total"])
    ax.grid(alpha=0.3)
    if st["train_curve"] or st["valid_curve"]:
        ax.legend(loc="upper right")
    else:
        ax.text(0.5, 0.5, "waiting for the first steps", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return str(atomic_write(path, fig.savefig))


# --- the page ---------------------------------------------------------------------------------
def build(page: Page):
    import gradio as gr

    from musicrnn.codec import MidiError
    from musicrnn.core.errors import CheckpointError, DataError, SettingsError
    from musicrnn.ui.jobs import DEFAULT_PRESET, PRESETS, STATES_DONE
    from musicrnn.ui.uploads import UploadError

    readable = (ValueError, SettingsError, MidiError, CheckpointError, DataError, UploadError, OSError)
    server_paths = re.compile(re.escape(str(page.work)) + r"[^\s:'\"]*/")

    def message(e: Exception) -> str:
        """The error in words, without the server's temporary folders (a file keeps its name)."""
        return server_paths.sub("", str(e))

    gen_limit = page.workers  # one worker process a request; more requests wait in the queue

    def _song(model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument, request, progress):
        try:
            res = make_song(page, model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument,
                            request=request, progress=progress)
        except readable as e:
            raise gr.Error(message(e), print_exception=False) from None
        p = res["pieces"][0]
        return (p["wav"], p["png"], [q["midi"] for q in res["pieces"]], stats_markdown(res, res["model"]),
                info_markdown(res), res["seed"], res)

    def variations_shown(last):
        n = len(last["pieces"]) if last else 1
        return gr.update(choices=[str(i + 1) for i in range(n)], value="1", visible=n > 1)

    def generate(model=DEFAULT_MODEL, primer=None, temperature=None, top_k=0, top_p=1.0, seconds=30.0, variations=1,
                 seed=-1, instrument=AS_GENERATED, request: gr.Request = None, progress=gr.Progress()):
        return _song(model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument, request,
                     progress)

    def continue_song(last, which, model, temperature, top_k, top_p, seconds, variations, seed, instrument,
                      request: gr.Request = None, progress=gr.Progress()):
        if not last or not last.get("pieces"):
            raise gr.Error("nothing to continue yet: press Generate first", print_exception=False)
        i = int(which or 1) - 1 if str(which or "1").isdigit() else 0
        i = min(max(i, 0), len(last["pieces"]) - 1)
        primer = last["pieces"][i]["midi"]
        if not Path(primer).is_file():
            raise gr.Error("the last song has been cleaned up; generate again", print_exception=False)
        return _song(last.get("model", model), primer, temperature, top_k, top_p, seconds, variations, seed,
                     instrument, request, progress)

    def show_variation(last, which):
        if not last or not which:
            return gr.update(), gr.update(), gr.update()
        i = min(max(int(which) - 1, 0), len(last["pieces"]) - 1)
        p = last["pieces"][i]
        return p["wav"], p["png"], info_markdown(last, i)

    def transfer(source=None, target_clip=None, voice="", transpose="", formant="", index_rate=0.5,
                 protect=0.33, request: gr.Request = None):
        try:
            res = make_transfer(page, source, target_clip, voice, transpose, formant, index_rate, protect,
                                request=request)
        except readable as e:
            raise gr.Error(message(e), print_exception=False) from None
        return res["wav"], res["png"], res["info"]

    def train(files=None, preset=DEFAULT_PRESET, minutes=2.0, progress=gr.Progress()):
        try:
            job = start_training(page, files, preset, minutes)
        except readable as e:
            raise gr.Error(message(e), print_exception=False) from None
        png, drawn = None, None
        while True:
            st = job.status()
            if st["total"]:
                progress((st["step"], st["total"]), desc="training", unit="steps")
            ended = job.state in STATES_DONE
            if drawn != (st["step"], len(st["valid_curve"]), st["total"]):  # something new to draw
                drawn, old = (st["step"], len(st["valid_curve"]), st["total"]), png
                png = loss_plot_png(st, page.work / "plots" / f"job-{job.id}-{time.monotonic_ns()}.png")
                if old:
                    Path(old).unlink(missing_ok=True)  # the page shows a copy; keep one file a job
            yield (status_markdown(st, page.trainer.ahead_of(job)), png, skipped_markdown(st["skipped"]),
                   job.name if ended and st["has_model"] else "", job.id)
            if ended:
                return
            time.sleep(1.0)

    def stop(job_id):
        if not job_id:
            return "no training job to stop"
        return page.trainer.stop(int(job_id))

    def refresh(request: gr.Request = None):
        return gr.update(choices=page.model_choices())

    def trained_listed(name):
        choices = page.model_choices()
        return gr.update(choices=choices, value=name) if name else gr.update(choices=choices)

    def random_seed():
        return random.randrange(0, 1_000_000_000)

    choices = page.model_choices()
    with gr.Blocks(title="musicrnn", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# musicrnn\nGenerate melodies with a transformer or a char-RNN trained on folk tunes or "
                    "Bach chorales, or train one on your own MIDI files.")
        with gr.Tabs():
            with gr.Tab("Generate", id="generate"):
                with gr.Row():
                    with gr.Column(scale=1):
                        model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model",
                                            elem_id="model", allow_custom_value=True)  # the list grows; resolve() checks
                        primer = gr.File(label="Primer to continue (optional): MIDI, or a hummed or sung melody "
                                               "(WAV, FLAC, OGG, MP3)", file_types=list(PRIMER_TYPES),
                                         elem_id="primer")
                        with gr.Row():
                            seconds = gr.Slider(1, MAX_SECONDS, value=30, step=1, label="Length (seconds)")
                            variations = gr.Slider(1, MAX_VARIATIONS, value=1, step=1, label="Variations")
                        with gr.Row():
                            temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.01, label="Temperature",
                                                    info="0: the model's own (folk-attention: 0.74, others 1); "
                                                         "below 1 safer, above 1 wilder", elem_id="temperature")
                            top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.01, label="Top-p")
                            top_k = gr.Number(0, label="Top-k (0: off)", precision=0)
                        with gr.Row():
                            seed = gr.Number(-1, label="Seed (-1: a new one each time)", precision=0, elem_id="seed")
                            dice = gr.Button("random seed", size="sm", elem_id="dice")
                        instrument = gr.Dropdown(instrument_choices(), value=AS_GENERATED, label="Instrument",
                                                 info="General MIDI program for every pitched part",
                                                 allow_custom_value=True)  # "73", "flute": _program() checks
                        with gr.Row():
                            go = gr.Button("Generate", variant="primary", elem_id="generate-btn")
                            cont = gr.Button("Continue this song", elem_id="continue-btn")
                    with gr.Column(scale=2):
                        info = gr.Markdown(elem_id="song-info", label="Song")
                        audio = gr.Audio(label="Listen", type="filepath", interactive=False, elem_id="audio")
                        which = gr.Radio(["1"], value="1", label="Variation", visible=False)
                        picture = gr.Image(label="Piano roll", type="filepath", interactive=False, elem_id="pianoroll")
                        midi = gr.File(label="MIDI download", file_count="multiple", interactive=False, elem_id="midi")
                        stats = gr.Markdown(elem_id="stats", label="Statistics")
                last = gr.State(None)
                used_seed = gr.Number(visible=False, label="Seed used")
            with gr.Tab("Style transfer", id="transfer"):
                gr.Markdown("Make a sung or spoken clip sound like another voice, keeping its melody. The target "
                            "is a clip of that voice (instant, no training) or a voice model trained with "
                            "`musicrnn voice train`.")
                with gr.Row():
                    with gr.Column(scale=1):
                        src_clip = gr.Audio(_demo("demo-source-male.wav"), type="filepath",
                                            label="Source: the voice to convert (upload or record)",
                                            sources=["upload", "microphone"], elem_id="transfer-source")
                        tgt_clip = gr.Audio(_demo("demo-target-female.wav"), type="filepath",
                                            label="Target clip: a few seconds of the target voice",
                                            sources=["upload", "microphone"], elem_id="transfer-target")
                        vchoices = voice_choices(page)
                        voice = gr.Dropdown([("(none: use the target clip)", "")] + vchoices, value="",
                                            label="…or a trained voice model", allow_custom_value=True,
                                            elem_id="transfer-voice")
                        with gr.Row():
                            # text boxes, so that "empty" (choose from the target) survives the browser
                            transpose = gr.Textbox("", label="Transpose (semitones; empty: match the target)",
                                                   elem_id="transpose")
                            formant = gr.Textbox("", label="Formant shift (ratio 0.5-2; empty: fitted)",
                                                 elem_id="formant")
                        with gr.Row():
                            index_rate = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Index rate (voice model)",
                                                   info="how much of each frame comes from the target's own frames")
                            protect = gr.Slider(0.0, 1.0, value=0.33, step=0.01, label="Protect consonants")
                        convert_btn = gr.Button("Convert", variant="primary", elem_id="transfer-btn")
                    with gr.Column(scale=2):
                        converted = gr.Audio(label="Converted", type="filepath", interactive=False,
                                             elem_id="transfer-audio")
                        pitch = gr.Image(label="Pitch before and after", type="filepath", interactive=False,
                                         elem_id="transfer-pitch")
                        metrics = gr.JSON(label="Metrics", elem_id="transfer-metrics")
            with gr.Tab("Train", id="train"):
                gr.Markdown("Upload a zip of MIDI files (or several .mid files), choose a size and a time budget, "
                            "and train. The new model appears in the Generate tab's list. One training runs at a "
                            "time; generation keeps working meanwhile.")
                with gr.Row():
                    with gr.Column(scale=1):
                        files = gr.File(label="MIDI files or a zip", file_count="multiple",
                                        file_types=[".zip", ".mid", ".midi"], elem_id="train-files")
                        preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Size",
                                             allow_custom_value=True)  # Trainer.check() checks, in words
                        minutes = gr.Number(2.0, label=f"Time budget (minutes, at most {page.trainer.max_minutes:g})",
                                            elem_id="minutes")  # checked by Trainer.check(), in words
                        with gr.Row():
                            start = gr.Button("Train", variant="primary", elem_id="train-btn")
                            halt = gr.Button("Stop (keep the best model)", variant="stop", elem_id="stop-btn")
                    with gr.Column(scale=2):
                        status = gr.Markdown(elem_id="train-status", label="Training")
                        plot = gr.Image(label="Loss (bits/token)", type="filepath", interactive=False,
                                        elem_id="loss-plot")
                        skipped = gr.Markdown(elem_id="skipped", label="Skipped files")
                job_id = gr.State(None)
                trained = gr.Textbox(visible=False, label="Trained model")
                halted = gr.Markdown(elem_id="stop-message", label="Stop")

        song_out = [audio, picture, midi, stats, info, used_seed, last]  # the API returns all but the state
        go.click(generate, [model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument],
                 song_out, api_name="generate", concurrency_limit=gen_limit, concurrency_id="sampler").success(
            variations_shown, last, which, api_visibility="private", queue=False)
        cont.click(continue_song, [last, which, model, temperature, top_k, top_p, seconds, variations, seed,
                                   instrument], song_out, api_name="continue", concurrency_id="sampler").success(
            variations_shown, last, which, api_visibility="private", queue=False)
        which.change(show_variation, [last, which], [audio, picture, info], api_visibility="private")
        dice.click(random_seed, None, seed, api_visibility="private", queue=False)
        convert_btn.click(transfer, [src_clip, tgt_clip, voice, transpose, formant, index_rate, protect],
                          [converted, pitch, metrics], api_name="transfer", concurrency_limit=gen_limit,
                          concurrency_id="transfer")
        start.click(train, [files, preset, minutes], [status, plot, skipped, trained, job_id], api_name="train",
                    concurrency_limit=None).then(trained_listed, trained, model, api_visibility="private", queue=False)
        halt.click(stop, job_id, halted, api_visibility="private", concurrency_limit=None)
        demo.load(refresh, None, model, api_visibility="private")

        def leave(request: gr.Request):
            page.end_session(request)

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
    if block:  # `kill` (SIGTERM) stops the page like Ctrl-C does: cleanly, files deleted
        import signal

        def _terminate(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _terminate)
        print(f"musicrnn ui: temporary files in {page.work} (deleted when the page stops)", flush=True)
    os.environ["GRADIO_TEMP_DIR"] = str(page.work / "gradio")  # uploads and served copies: cleaned with the page
    atexit.register(page.cleanup)
    demo = build(page)
    demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                allowed_paths=[str(page.work)], max_file_size="250mb", show_error=True, quiet=not block,
                footer_links=["api"])
    return demo, page


if __name__ == "__main__":  # python ui/app.py [flags] is `musicrnn ui [flags]`
    from musicrnn.cli import main

    sys.exit(main(["ui", *sys.argv[1:]]))
