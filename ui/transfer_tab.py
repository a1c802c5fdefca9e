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


LIVE_SECONDS = 300  # a live session's longest stretch


def live_chunk(chunk, state, target_clip):
    """One microphone chunk of the live mode: (converted chunk at 16 kHz as int16, state,
    info line). The first chunk builds the converter from the target clip (``style.live``)."""
    import numpy as np

    from musicrnn.codec.audio import load_audio
    from musicrnn.style.instant import build_profile
    from musicrnn.style.live import SR, LiveConverter

    if chunk is None:
        return None, state, ""
    rate, x = chunk
    x = np.asarray(x)
    x = (x.astype(np.float64) / 32768.0) if x.dtype.kind == "i" else x.astype(np.float64)
    x = x.mean(axis=1) if x.ndim == 2 else x
    if state is None:
        if not target_clip:
            raise ValueError("live mode: give a target clip first (the voice to sound like)")
        y, sr = load_audio(upload_path(target_clip), sr=SR)
        state = {"live": LiveConverter(build_profile(y, sr), SR), "seconds": 0.0}
    if rate != SR:
        from scipy.signal import resample_poly

        g = np.gcd(int(rate), SR)
        x = resample_poly(x, SR // g, int(rate) // g)
    live = state["live"]
    y = live.process(x)
    state["seconds"] += x.size / SR
    per = np.array(live.block_seconds[-50:]) if live.block_seconds else np.zeros(1)
    info = (f"live: {state['seconds']:.1f} s converted, delay {1000 * live.delay_s:.0f} ms + compute "
            f"(median {1000 * np.median(per):.1f} ms per {1000 * live.block / SR:.0f} ms block)"
            + (f", transposed {live.semitones:+g} semitones" if live.semitones is not None else ""))
    return (SR, (np.clip(y, -1, 1) * 32767).astype(np.int16)), state, info


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
                gr.Markdown("**Live:** talk or sing into the microphone; the converted voice comes back as you "
                            "go, toward the target clip above (80 ms of conversion delay, plus the browser's).")
                live_in = gr.Audio(sources=["microphone"], streaming=True, label="Microphone (live)",
                                   elem_id="live-mic")
                live_out = gr.Audio(streaming=True, autoplay=True, interactive=False, label="Converted, live",
                                    elem_id="live-out")
                live_info = gr.Markdown(elem_id="live-info")
                live_state = gr.State(None)

    def live(chunk, state, target_clip):
        with errors.shown():
            return live_chunk(chunk, state, target_clip)

    live_in.stream(live, [live_in, live_state, tgt_clip], [live_out, live_state, live_info], stream_every=0.1,
                   time_limit=LIVE_SECONDS, concurrency_limit=limit, api_visibility="private")
    live_in.start_recording(lambda: None, None, live_state, api_visibility="private", queue=False)
    convert_btn.click(transfer, [src_clip, tgt_clip, voice, transpose, formant, index_rate, protect],
                      [converted, pitch, metrics], api_name="transfer", concurrency_limit=limit,
                      concurrency_id="transfer")
