"""The Train tab: upload MIDI files (or a zip), choose a size and a time budget, train.

The uploads are unpacked and checked by ``musicrnn.ui.uploads``, the training is
``musicrnn train`` in a background process (``musicrnn.ui.jobs``, one job at a time), and
the new model joins the Generate tab's list.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from musicrnn.ui.fields import upload_path


def start_training(page, files, preset, minutes) -> "Job":  # noqa: F821
    """Collect the uploads into a new job folder, check them, and queue the job."""
    from musicrnn.ui.jobs import slug
    from musicrnn.ui.uploads import collect_midi, keep_readable

    page.trainer.check(preset, minutes)  # before anything is unpacked
    paths = [upload_path(f) for f in (files or [])]
    if not paths:
        raise ValueError("no files uploaded: add a zip of MIDI files, or several .mid files")
    label = paths[0].stem if len(paths) == 1 else f"{paths[0].stem}-and-{len(paths) - 1}-more"
    jid, folder = page.trainer.new_job_folder()
    try:
        got = collect_midi(paths, folder / slug(label))  # the folder's name is the corpus name in the model list
        _, skipped = keep_readable(got)
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


def tab(page, errors, model) -> None:
    """The tab's layout and events (inside the page's ``gr.Tabs``); ``model`` is the Generate
    tab's model list, which a finished training selects its model in."""
    import gradio as gr

    from musicrnn.ui.jobs import DEFAULT_PRESET, PRESETS, STATES_DONE, loss_plot_png

    def train(files=None, preset=DEFAULT_PRESET, minutes=2.0, progress=gr.Progress()):
        with errors.shown():
            job = start_training(page, files, preset, minutes)
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

    def trained_listed(name):
        choices = page.model_choices()
        return gr.update(choices=choices, value=name) if name else gr.update(choices=choices)

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

    start.click(train, [files, preset, minutes], [status, plot, skipped, trained, job_id], api_name="train",
                concurrency_limit=None).then(trained_listed, trained, model, api_visibility="private", queue=False)
    halt.click(stop, job_id, halted, api_visibility="private", concurrency_limit=None)
