"""The Generate tab: choose a model, generate (or continue) a song, listen, look, download.

Generation is ``musicrnn.tasks.music.sample_to_files`` (the function behind ``musicrnn
sample``), run in one of the page's worker processes; the picture ``musicrnn.pianoroll``,
the model list ``musicrnn.ui.catalog``. Standard library only at import: worker
processes import this module to run :func:`render_song`.
"""


from pathlib import Path

from musicrnn.shipped import DEFAULT_MODEL  # standard library only
from musicrnn.ui.fields import MAX_AUDIO_BYTES, number, upload_path

MAX_SECONDS = 300.0        # one song on the page (the command line allows an hour)
MAX_VARIATIONS = 8
MAX_PRIMER_BYTES = 2 * 2**20
PRIMER_TYPES = (".mid", ".midi", ".wav", ".flac", ".ogg", ".mp3")
AS_GENERATED = "as generated"
NO_FLUIDSYNTH_NOTE = ("FluidSynth is not installed here, so this audio is plain sine tones "
                      "(install libfluidsynth3 and pyfluidsynth for real instruments).")


def program_of(instrument) -> int | None:
    """The GM program of the instrument field: "73 Flute", "73", 73 or "flute"; None: as generated."""
    from musicrnn.pianoroll import program_number

    if instrument in (None, "", AS_GENERATED):
        return None
    return program_number(instrument)


def band_choices() -> list[str]:
    """The Band field's list: drums, then every General MIDI program ("33 Electric Bass (finger)")."""
    from musicrnn.pianoroll import program_choices

    return ["Drums"] + program_choices()


def instrument_choices() -> list[str]:
    from musicrnn.pianoroll import program_choices

    return [AS_GENERATED] + program_choices()


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
             "aligned_phrase_repeat_rate": "the same, phrases at bars 1-2, 3-4, ... only (share)",
             "instruments": "instruments (pitched programs, plus drums)",
             "has_drums": "pieces with drums (share)",
             "drum_bar_repeat_rate": "bars whose drum pattern repeats an earlier bar's (share)",
             "pitch_class_distance": "pitch-class distance to the corpus (0 = same)"}
    head = f"corpus ({corpus['pieces']} held-out pieces)" if corpus else "corpus"
    lines = [f"| statistic | this song ({gen['pieces']} piece{'s' if gen['pieces'] != 1 else ''}) | {head} |",
             "|---|---:|---:|"]
    for m, g, c in rows:
        lines.append(f"| {label.get(m, m)} | {_cell(g)} | {_cell(c)} |")
    if not corpus:
        lines.append(f"\n*{model_name} has no corpus statistics stored (a model trained before they were recorded).*")
    return "\n".join(lines)


def make_song(page, model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument,
              request=None, progress=None, band=None) -> dict:
    """Validate the page's fields, generate, render audio and pictures into a fresh folder
    of this visitor. Raises ValueError (and the library's errors) with readable messages."""
    from musicrnn.tasks.music import new_seed
    from musicrnn.ui.catalog import resolve

    say = progress or (lambda *a, **k: None)
    temperature = number(temperature, 0.0, float, "temperature", 0.0, 5.0) or None  # 0: the model's own
    top_k = number(top_k, 0, int, "top-k", 0, 100_000)
    top_p = number(top_p, 1.0, float, "top-p", 0.01, 1.0)
    seconds = number(seconds, 30.0, float, "length (seconds)", 1.0, MAX_SECONDS)
    n = number(variations, 1, int, "variations", 1, MAX_VARIATIONS)
    seed = number(seed, -1, int, "seed", -1, 2**63 - 1)
    seed = new_seed() if seed < 0 else seed
    program = program_of(instrument)
    if band:
        from musicrnn.pianoroll import instrument_keys

        band = instrument_keys(band if isinstance(band, (list, tuple)) else str(band))  # ValueError names a bad one
    try:
        entry = resolve(model, page.models())
    except LookupError as e:
        raise ValueError(str(e)) from None
    primer_path = None
    if primer:
        primer_path = upload_path(primer)
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
               seed=seed, program=program, instruments=band or None)
    res = page.run_job(render_song, job)
    if "error" in res:
        raise ValueError(res["error"])
    say(1.0, desc="done")
    return res


def render_song(job: dict) -> dict:
    """Sample, write MIDI and WAV, draw the piano rolls: the work of one request, run in a
    worker process (see Page.run_job). Errors come back as {"error": message}."""
    from musicrnn.codec import MidiError, Score
    from musicrnn.core.errors import CheckpointError, DataError, SettingsError
    from musicrnn.pianoroll import pianoroll_png
    from musicrnn.tasks.music import sample_to_files

    out = Path(job["out"])
    try:
        res = sample_to_files(job["checkpoint"], out / "song.mid", n=job["n"], seconds=job["seconds"],
                              primer=job["primer"], temperature=job["temperature"], top_k=job["top_k"],
                              top_p=job["top_p"], seed=job["seed"], wav=out / "song.wav", program=job["program"],
                              instruments=job.get("instruments"),
                              stats=True)
    except (MidiError, SettingsError, CheckpointError, DataError, ValueError, OSError) as e:
        return {"error": str(e)}
    for i, piece in enumerate(res["pieces"]):
        title = f"{job['name']} · seed {job['seed']}" + (f" · variation {i + 1}" if job["n"] > 1 else "")
        png = Path(piece["midi"]).with_suffix(".png")
        try:
            piece["png"] = str(pianoroll_png(Score(480) if piece["notes"] == 0 else piece["midi"], png, title=title))
        except (MidiError, ValueError, OSError) as e:  # the generated piece, not an upload
            return {"error": f"the generated piece could not be drawn ({getattr(e, 'problem', e)})"}
    res["model"] = job["name"]
    return res


SINGERS = [("Festival kal (its own voice)", "kal"), ("Festival ked (its own voice)", "ked")]


def make_sung(page, last, which, voice, request=None) -> dict:
    """The melody of the last song's shown variation, sung ("Sing it"): Festival's voice, or
    a trained voice model (the Style transfer tab's list) singing through Festival kal."""
    from musicrnn.ui.catalog import find_models, resolve

    if not last or not last.get("pieces"):
        raise ValueError("nothing to sing yet: press Generate first")
    i = min(max(int(which) - 1 if str(which or "1").isdigit() else 0, 0), len(last["pieces"]) - 1)
    midi = Path(last["pieces"][i]["midi"])
    if not midi.is_file():
        raise ValueError("the last song has been cleaned up; generate again")
    voice = str(voice or "kal")
    singer, target = (voice, None) if voice in ("kal", "ked") else ("kal", None)
    if target is None and voice not in ("kal", "ked"):
        try:
            target = str(resolve(voice, find_models([page.runs], task="voice")).path)
        except LookupError as e:
            raise ValueError(str(e)) from None
    out = page.new_result_dir(request)
    res = page.run_job(render_sung, dict(midi=str(midi), out=str(out / "song.sung.wav"), voice=target, singer=singer))
    if "error" in res:
        raise ValueError(res["error"])
    return res


def render_sung(job: dict) -> dict:
    """Sing one piece (``musicrnn.singing.sing_midi``) in a worker process."""
    from musicrnn.codec import MidiError
    from musicrnn.codec.synth import SynthError
    from musicrnn.core.errors import CheckpointError, DataError, SettingsError
    from musicrnn.singing import sing_midi

    try:
        return sing_midi(job["midi"], job["out"], voice=job["voice"], singer=job["singer"])
    except (MidiError, SynthError, SettingsError, CheckpointError, DataError, ValueError, OSError) as e:
        return {"error": str(e)}


def sung_markdown(res: dict) -> str:
    return (f"{res['notes']} notes sung by Festival {res['singer']}"
            + (f", converted toward {Path(res['voice']).name}" if res.get("voice") else "")
            + (", over the other parts" if res.get("accompanied") else "")
            + (f"; transcribed back, the onsets match the melody's at F = {res['onset_f']:.2f}"
               if res.get("onset_f") is not None else ""))


def info_markdown(res: dict, i: int = 0) -> str:
    p = res["pieces"][i]
    from musicrnn.tasks.music import band_line

    text = (f"**{res['model']}**, seed **{res['seed']}**, temperature {res['temperature']:g}: "
            f"{p['notes']} notes, {p['seconds']} s, {band_line(p.get('instruments', []))}"
            + (f", {p['invalid_tokens']} tokens rejected by the decoder" if p["invalid_tokens"] else ""))
    for key in ("note", "fit_note"):  # a primer cut to its opening; a primer far from the model's corpus
        if (res.get("primer") or {}).get(key):
            text += f"\n\n**Primer:** {res['primer'][key]}"
    if p.get("engine") == "sine":
        text += f"\n\n**Note:** {NO_FLUIDSYNTH_NOTE}"
    return text


def tab(page, errors, limit: int):
    """The tab's layout and events (inside the page's ``gr.Tabs``); returns the model list,
    which the page refreshes and the Train tab extends."""
    import random

    import gradio as gr

    from musicrnn.ui.transfer_tab import voice_choices

    def _song(model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument, request, progress,
              band=None):
        with errors.shown():
            res = make_song(page, model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument,
                            request=request, progress=progress, band=band)
        p = res["pieces"][0]
        return (p["wav"], p["png"], [q["midi"] for q in res["pieces"]], stats_markdown(res, res["model"]),
                info_markdown(res), res["seed"], res)

    def variations_shown(last):
        n = len(last["pieces"]) if last else 1
        return gr.update(choices=[str(i + 1) for i in range(n)], value="1", visible=n > 1)

    def generate(model=DEFAULT_MODEL, primer=None, temperature=None, top_k=0, top_p=1.0, seconds=30.0, variations=1,
                 seed=-1, instrument=AS_GENERATED, band=None, request: gr.Request = None, progress=gr.Progress()):
        return _song(model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument, request,
                     progress, band)

    def continue_song(last, which, model, temperature, top_k, top_p, seconds, variations, seed, instrument,
                      band=None, request: gr.Request = None, progress=gr.Progress()):
        if not last or not last.get("pieces"):
            raise gr.Error("nothing to continue yet: press Generate first", print_exception=False)
        i = int(which or 1) - 1 if str(which or "1").isdigit() else 0
        i = min(max(i, 0), len(last["pieces"]) - 1)
        primer = last["pieces"][i]["midi"]
        if not Path(primer).is_file():
            raise gr.Error("the last song has been cleaned up; generate again", print_exception=False)
        return _song(last.get("model", model), primer, temperature, top_k, top_p, seconds, variations, seed,
                     instrument, request, progress, band)

    def show_variation(last, which):
        if not last or not which:
            return gr.update(), gr.update(), gr.update()
        i = min(max(int(which) - 1, 0), len(last["pieces"]) - 1)
        p = last["pieces"][i]
        return p["wav"], p["png"], info_markdown(last, i)

    def random_seed():
        return random.randrange(0, 1_000_000_000)

    def sing(last, which, voice, request: gr.Request = None):
        with errors.shown():
            res = make_sung(page, last, which, voice, request=request)
        return res["wav"], sung_markdown(res)

    choices = page.model_choices()
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
                                            info="0: the model's own (folk-repeats 0.85, folk-attention 0.74, folk-transformer 0.9, band 0.6, a band fine-tune its fitted one, others 1); "
                                                 "below 1 safer, above 1 wilder", elem_id="temperature")
                    top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.01, label="Top-p")
                    top_k = gr.Number(0, label="Top-k (0: off)", precision=0)
                with gr.Row():
                    seed = gr.Number(-1, label="Seed (-1: a new one each time)", precision=0, elem_id="seed")
                    dice = gr.Button("random seed", size="sm", elem_id="dice")
                instrument = gr.Dropdown(instrument_choices(), value=AS_GENERATED, label="Instrument",
                                         info="General MIDI program for every pitched part",
                                         allow_custom_value=True)  # "73", "flute": program_of() checks
                band = gr.Dropdown(band_choices(), value=[], multiselect=True, label="Band (optional)",
                                   info="the instruments the piece may play; empty: the primer's, or the "
                                        "model's own choice (the band model picks a band up front)",
                                   elem_id="band")
                with gr.Row():
                    go = gr.Button("Generate", variant="primary", elem_id="generate-btn")
                    cont = gr.Button("Continue this song", elem_id="continue-btn")
            with gr.Column(scale=2):
                info = gr.Markdown(elem_id="song-info", label="Song")
                audio = gr.Audio(label="Listen", type="filepath", interactive=False, elem_id="audio")
                which = gr.Radio(["1"], value="1", label="Variation", visible=False)
                picture = gr.Image(label="Piano roll", type="filepath", interactive=False, elem_id="pianoroll")
                midi = gr.File(label="MIDI download", file_count="multiple", interactive=False, elem_id="midi")
                with gr.Row():
                    singer = gr.Dropdown(SINGERS + voice_choices(page), value="kal", label="Voice that sings",
                                         allow_custom_value=True, elem_id="singer")
                    sing_btn = gr.Button("Sing it", elem_id="sing-btn")
                sung = gr.Audio(label="Sung", type="filepath", interactive=False, elem_id="sung")
                sung_info = gr.Markdown(elem_id="sung-info")
                stats = gr.Markdown(elem_id="stats", label="Statistics")
        last = gr.State(None)
        used_seed = gr.Number(visible=False, label="Seed used")

    song_out = [audio, picture, midi, stats, info, used_seed, last]  # the API returns all but the state
    go.click(generate, [model, primer, temperature, top_k, top_p, seconds, variations, seed, instrument, band],
             song_out, api_name="generate", concurrency_limit=limit, concurrency_id="sampler").success(
        variations_shown, last, which, api_visibility="private", queue=False)
    cont.click(continue_song, [last, which, model, temperature, top_k, top_p, seconds, variations, seed,
                               instrument, band], song_out, api_name="continue", concurrency_id="sampler").success(
        variations_shown, last, which, api_visibility="private", queue=False)
    which.change(show_variation, [last, which], [audio, picture, info], api_visibility="private")
    dice.click(random_seed, None, seed, api_visibility="private", queue=False)
    sing_btn.click(sing, [last, which, singer], [sung, sung_info], api_name="sing", concurrency_limit=limit,
                   concurrency_id="sampler")
    return model
