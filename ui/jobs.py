"""Training jobs for the page: one background worker, one job at a time.

A job is ``musicrnn train`` run as a child process (the same command a user types), at
low priority (nice 10) on one thread, so that generation for other users keeps a core and
the server stays responsive. The child writes ``OUT/progress.jsonl`` (see
:class:`musicrnn.core.train.ProgressLog`), which :meth:`Job.status` reads for the live
loss plot. Stopping sends SIGINT: the run stops after the step in flight, and the best
model so far stays in ``OUT`` (resumable with ``musicrnn train --resume``).

Standard library only (the page imports this; torch loads only in the child);
:func:`loss_plot_png`, the live loss plot of a job's status, loads matplotlib when it draws.
"""

from __future__ import annotations

import ctypes  # here, not in the child: an import between fork and exec can deadlock
import itertools
import json
import math
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from musicrnn.core.errors import SettingsError
from musicrnn.shipped import shipped_checkpoint
from musicrnn.ui.budget import limit_memory

# Size presets: the flags each adds to `musicrnn train`. Fine-tuning a shipped model is the
# recipe that works on a handful of files (README, "Train on your own MIDI folder").
PRESETS: dict[str, list[str]] = {
    "fine-tune band (songs: several instruments, drums)": ["--init", "@band", "--transpose", "0", "--patience", "3"],
    "fine-tune folk (best for a few files)": ["--init", "@folk", "--transpose", "0", "--patience", "10"],
    "fine-tune chorales (for 4-part writing)": ["--init", "@chorales", "--transpose", "0", "--patience", "10"],
    "tiny from scratch (1x64, quick test)": ["--hidden", "64", "--layers", "1", "--embed", "32", "--batch", "16",
                                            "--patience", "10"],
    "small from scratch (2x128)": ["--hidden", "128", "--layers", "2", "--patience", "10"],
    "medium from scratch (2x256, like the shipped models)": ["--hidden", "256", "--layers", "2", "--patience", "10"],
}
DEFAULT_PRESET = next(iter(PRESETS))


def music_task():
    """The music task's registry entry (``musicrnn.tasks``): its command is what a job runs."""
    from musicrnn.tasks import registry

    return registry()["music"]

MAX_MINUTES = 120.0
TRAIN_MEMORY = 8 * 2**30  # a training job's address space (env MUSICRNN_TRAIN_MEMORY_MB); torch itself takes 0.8
STATES_DONE = ("done", "stopped", "failed", "cancelled")


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()  # found now, in the parent: a child between fork and exec only calls it


def die_with_parent(parent: int, sig: int = signal.SIGTERM) -> None:
    """In a child process: receive ``sig`` when the process that started it dies, even by
    SIGKILL (Linux's PR_SET_PDEATHSIG; elsewhere nothing). ``musicrnn train`` stops on
    SIGTERM after the step in flight, keeping its best model, so a training job never
    outlives the page that started it."""
    if _PRCTL is None:
        return
    _PRCTL(1, int(sig), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os.kill(os.getpid(), sig)


def slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return s[:limit] or "midi"


def check_budget(minutes, max_minutes: float = MAX_MINUTES) -> float:
    try:
        m = float(minutes)
    except (TypeError, ValueError):
        raise SettingsError(f"time budget {minutes!r}: give a number of minutes") from None
    if not (math.isfinite(m) and 0.05 <= m <= max_minutes):
        raise SettingsError(f"time budget {minutes!r}: must be between 0.05 and {max_minutes:g} minutes")
    return m


@dataclass
class Job:
    id: int
    name: str
    data: Path                  # the MIDI files, inside the job's folder (Trainer.folder, deleted when it ends)
    out: Path                   # the model folder, under the runs folder
    command: list[str]
    skipped: list[str] = field(default_factory=list)
    state: str = "waiting"      # waiting, running, done, stopped, failed, cancelled
    message: str = ""
    summary: dict | None = None
    started: float | None = None
    ended: float | None = None
    proc: subprocess.Popen | None = None
    stop_asked: bool = False
    _events: list[dict] = field(default_factory=list)
    _read: int = 0  # bytes of progress.jsonl already parsed

    @property
    def log(self) -> Path:
        return self.out / "train.log"

    def events(self) -> list[dict]:
        """The events of OUT/progress.jsonl so far; each call reads only the new lines."""
        try:
            with open(self.out / "progress.jsonl", "rb") as f:
                f.seek(self._read)
                new = f.read()
        except OSError:
            return self._events
        complete = new[: new.rfind(b"\n") + 1]  # a line still being written waits for the next call
        self._read += len(complete)
        self._events += [json.loads(line) for line in complete.splitlines() if line.strip()]
        return self._events

    def status(self) -> dict:
        """state, step/total, the training and validation curves (step, bits/token)."""
        ev = self.events()
        steps = [e for e in ev if e["event"] == "step"]
        valid = [e for e in ev if e["event"] == "valid"]
        last = (steps or [{}])[-1]
        total = next((e["total"] for e in reversed(ev) if "total" in e), None)
        step = max([e.get("step", 0) for e in ev], default=0)
        best = min((e["valid_bits"] for e in valid), default=None)
        return {"id": self.id, "name": self.name, "state": self.state, "message": self.message,
                "step": step, "total": total, "epoch": last.get("epoch"), "train_bits": last.get("train_bits"),
                "best_valid_bits": best, "has_model": (self.out / "config.json").is_file(),
                "train_curve": [(e["step"], e["train_bits"]) for e in steps],
                "valid_curve": [(e["step"], e["valid_bits"]) for e in valid],
                "skipped": self.skipped, "out": str(self.out),
                "elapsed": round((self.ended or time.time()) - self.started, 1) if self.started else 0.0}


class Trainer:
    """A queue of training jobs run one at a time by one worker thread."""

    def __init__(self, runs: str | os.PathLike, work: str | os.PathLike, max_minutes: float = MAX_MINUTES,
                 threads: int = 1, nice: int = 10):
        self.runs, self.work = Path(runs), Path(work)
        self.max_minutes, self.threads, self.nice = max_minutes, threads, nice
        self.jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._queue: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="musicrnn-trainer", daemon=True)
        self._worker.start()

    def folder(self, jid: int) -> Path:
        """A job's own folder: its uploads live here until it ends."""
        return self.work / f"job-{jid}"

    def new_job_folder(self) -> tuple[int, Path]:
        with self._lock:
            jid = next(self._ids)
        folder = self.folder(jid)
        folder.mkdir(parents=True, exist_ok=False)
        return jid, folder

    def check(self, preset: str, minutes) -> float:
        """Refuse an unknown size or a budget out of range (SettingsError); the budget in minutes."""
        if preset not in PRESETS:
            raise SettingsError(f"size {preset!r}: choose one of: {', '.join(PRESETS)}")
        return check_budget(minutes, self.max_minutes)

    def submit(self, jid: int, data: Path, label: str, preset: str, minutes, skipped: list[str]) -> Job:
        """Queue a job on the MIDI files in ``data`` (inside this job's folder, deleted when it ends)."""
        minutes = self.check(preset, minutes)
        name = f"{slug(label)}-{time.strftime('%Y%m%d-%H%M%S')}-{jid}"
        out = self.runs / name
        flags = [str(shipped_checkpoint(a[1:])) if a.startswith("@") else a for a in PRESETS[preset]]
        command = [sys.executable, "-m", *music_task().command.split(), "--data", str(data), "--out", str(out),
                   "--minutes", f"{minutes:g}", "--quiet", *flags]
        job = Job(jid, name, data, out, command, skipped=list(skipped))
        with self._lock:
            self.jobs[jid] = job
        self._queue.put(job)
        return job

    def ahead_of(self, job: Job) -> int:
        """Jobs that will run before this waiting one (0 when it runs or ran)."""
        if job.state != "waiting":
            return 0
        with self._lock:
            return sum(1 for j in self.jobs.values() if j.id < job.id and j.state in ("waiting", "running"))

    def stop(self, jid: int) -> str:
        job = self.jobs.get(jid)
        if job is None:
            return "no such job"
        job.stop_asked = True
        if job.state == "waiting":
            job.state, job.message = "cancelled", "cancelled before it started"
            return job.message
        if job.state == "running" and job.proc is not None and job.proc.poll() is None:
            job.proc.send_signal(signal.SIGINT)  # stops after the step in flight; the best model stays
            return "stopping after the current step; the best model so far is kept"
        return f"job already {job.state}"

    def shutdown(self, wait_s: float = 30.0) -> None:
        """Cancel waiting jobs and stop the running one as Stop does (its best model stays)."""
        running = [j for j in self.jobs.values() if j.state in ("waiting", "running")]
        for job in running:
            self.stop(job.id)
        for job in running:
            if job.proc is not None:
                try:
                    job.proc.wait(timeout=wait_s)
                except subprocess.TimeoutExpired:
                    job.proc.kill()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job.state != "waiting":
                self._cleanup(job)
                continue
            try:
                end = self._train(job)
            except Exception as e:  # never let the worker die
                end = ("failed", f"{e.__class__.__name__}: {e}")
            # the uploads go before the job says it ended, so that an ended job has none left
            self._cleanup(job)
            job.ended = time.time()
            job.state, job.message = end

    def _train(self, job: Job) -> tuple[str, str]:
        """Run the job's training; its final (state, message), set by the caller once cleaned up."""
        env = dict(os.environ, MUSICRNN_THREADS=str(self.threads), OMP_NUM_THREADS=str(self.threads),
                   OPENBLAS_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads),
                   OMP_WAIT_POLICY="PASSIVE", PYTHONWARNINGS="ignore")
        job.out.mkdir(parents=True, exist_ok=False)
        job.state, job.started = "running", time.time()
        nice, server = self.nice, os.getpid()

        def child_setup():  # in the child, before it runs musicrnn train
            die_with_parent(server)
            limit_memory(TRAIN_MEMORY, env="MUSICRNN_TRAIN_MEMORY_MB")
            if nice:
                os.nice(nice)

        with open(job.log, "w", encoding="utf-8") as log:
            job.proc = subprocess.Popen(job.command, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                                        preexec_fn=child_setup if os.name == "posix" else None)
            if job.stop_asked:  # Stop pressed while the process was starting
                job.proc.send_signal(signal.SIGINT)
            stdout, _ = job.proc.communicate()
        rc = job.proc.returncode
        try:
            job.summary = json.loads(stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            job.summary = None
        has_model = (job.out / "config.json").is_file()
        if rc == 0:
            best = (job.summary or {}).get("best_valid_bits_per_token")
            return "done", f"finished: best validation {best} bits/token" if best is not None else "finished"
        if job.stop_asked or rc == 130:
            return "stopped", ("stopped; the best model so far is kept" if has_model
                               else "stopped before the first validation: no model was kept")
        tail = [ln for ln in job.log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        return "failed", tail[-1] if tail else f"training exited with code {rc}"

    def _cleanup(self, job: Job) -> None:
        shutil.rmtree(self.folder(job.id), ignore_errors=True)


TRAIN_COLOR, VALID_COLOR = "#1f77b4", "#d62728"


def loss_plot_png(st: dict, path: Path) -> str:
    """The live loss plot of a job's :meth:`Job.status`: training (smoothed) and validation
    bits/token against steps."""
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
