"""The Style transfer tab: make a sung or spoken clip sound like another voice.

The conversion is ``musicrnn.style.transfer.transfer_file`` (the function behind
``musicrnn transfer``) and the before/after measuring ``measure_and_plot``, run in one of
the page's worker processes. Standard library only at import: worker processes import
this module to run :func:`render_transfer`.
"""


import dataclasses
from pathlib import Path

from musicrnn.ui.fields import MAX_AUDIO_BYTES, number, upload_path

DEMO_VOICE = Path(__file__).resolve().parent.parent / "corpora" / "voice"  # the repository's demo clips


def _demo(name: str) -> str | None:
    p = DEMO_VOICE / name
    return str(p) if p.is_file() else None


def voice_choices(page) -> list[tuple[str, str]]:
    """Trained voice models (shipped and under the runs folder), for the Style transfer tab."""
    from musicrnn.ui.catalog import find_models

    return [(e.label, e.name) for e in find_models([page.runs], task="voice")]


def make_transfer(page, source, target_clip, voice, transpose, formant, index_rate, protect,
                  request=None) -> dict:
    """Check the tab's fields, convert, and draw the before/after pitch plot into a fresh
    folder of this visitor. Returns {wav, png, info (dict)}; errors as ValueError and the
    library's one-line errors."""
    from musicrnn.style.transfer import Controls
    from musicrnn.ui.catalog import find_models, resolve

    def path_of(f, what):
        if not f:
            return None
        p = upload_path(f)
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
    controls = Controls(transpose=number(transpose, None, float, "transpose", -36, 36),
                        formant=number(formant, None, float, "formant", 0.5, 2.0),
                        index_rate=number(index_rate, 0.5, float, "index rate", 0.0, 1.0),
                        protect=number(protect, 0.33, float, "protect", 0.0, 1.0)).check()
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
    from musicrnn.codec.errors import AudioError
    from musicrnn.core.errors import CheckpointError, DataError, SettingsError
    from musicrnn.style.transfer import Controls, Target, measure_and_plot, transfer_file

    src, out, name = Path(job["source"]), Path(job["out"]), job["name"]
    try:
        res = transfer_file(src, Target(Path(job["target"])), out / "converted.wav", Controls(**job["controls"]))
        m = measure_and_plot(src, out / "converted.wav", res.get("transpose", 0.0), out / "pitch.png",
                             title=f"{src.name} -> {name} ({res['tier']})")
    except (AudioError, MidiError, SettingsError, CheckpointError, DataError, ValueError, OSError) as e:
        return {"error": str(e)}
    info = {"target": name, "tier": res["tier"], "seconds": res["seconds"], "transpose": res.get("transpose"),
            "formant": res.get("formant"), "rtf": res["rtf"], "f0_corr": m["f0_corr"], "peak": res["peak"]}
    return {"wav": res["output"], "png": m["png"], "info": info}


def tab(page, errors, limit: int) -> None:
    """The tab's layout and events (inside the page's ``gr.Tabs``)."""
    import gradio as gr

    def transfer(source=None, target_clip=None, voice="", transpose="", formant="", index_rate=0.5,
                 protect=0.33, request: gr.Request = None):
        with errors.shown():
            res = make_transfer(page, source, target_clip, voice, transpose, formant, index_rate, protect,
                                request=request)
        return res["wav"], res["png"], res["info"]

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
                    transpose = gr.Textbox("", label="Transpose (semitones; empty: whole octaves toward the target)",
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

    convert_btn.click(transfer, [src_clip, tgt_clip, voice, transpose, formant, index_rate, protect],
                      [converted, pitch, metrics], api_name="transfer", concurrency_limit=limit,
                      concurrency_id="transfer")
