"""The page in a real browser: headless Chromium (Debian's) driven by Playwright.

Generate -> audio player ready, picture shown, MIDI downloaded with notes; Continue;
a bad primer shows a message and the page keeps working; the Train tab takes a zip and
lists the new model. Screenshots go to runs/screenshots/ (or $MUSICRNN_SCREENSHOTS).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from conftest import SCREENSHOTS

sync_api = pytest.importorskip("playwright.sync_api")

from musicrnn.codec import read_midi  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def playwright():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `python3 -m musicrnn.install --test` (Debian package chromium)")
    with sync_api.sync_playwright() as p:  # one per module: a second one in the same thread is refused
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
    yield b
    b.close()


@pytest.fixture
def tab(browser, page_server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(page_server.url)
    pg.wait_for_selector("#generate-btn")
    yield pg
    ctx.close()


def shot(pg, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def upload(pg, box: str, path: Path) -> None:
    """Put a file into a gr.File box and wait until the server has it and the box shows its
    name. On CI's loaded two-core machine an upload's name has failed to show within 60 s:
    when no upload request leaves within 20 s (the change went unheard), the file is set
    again; a request that left is waited for generously. On failure the page is saved."""
    for attempt in range(3):
        pg.wait_for_selector(f"{box} input[type=file]", state="attached")
        try:
            with pg.expect_request(lambda r: "upload" in r.url and r.method == "POST", timeout=20_000) as request:
                pg.set_input_files(f"{box} input[type=file]", str(path))
            break
        except sync_api.TimeoutError:
            if attempt == 2:
                shot(pg, f"upload_failed_{path.stem}")
                raise
    response = request.value.response()
    assert response is not None and response.ok, response and response.status
    try:
        pg.wait_for_selector(f"{box} >> text={path.stem}", timeout=2 * TIMEOUT_MS)
    except sync_api.TimeoutError:
        shot(pg, f"upload_failed_{path.stem}")
        raise


def wait_for_song(pg, previous_href: str | None = None) -> float:
    """Wait until the audio player holds a new song and knows its length (it has fetched and
    decoded the WAV: ready to play). Returns the seconds waited."""
    t = time.perf_counter()
    pg.wait_for_function(
        """prev => { const a = document.querySelector('#audio a[download="song.wav"]');
                     if (!a || a.href === prev) return false;
                     const times = [...document.querySelectorAll('#audio time, #audio span')]
                         .map(e => e.textContent.trim()).filter(s => /^\\d+:\\d\\d$/.test(s));
                     return times.some(s => s !== '0:00'); }""", arg=previous_href or "", timeout=TIMEOUT_MS)
    return time.perf_counter() - t


def wav_href(pg) -> str | None:
    a = pg.query_selector('#audio a[download="song.wav"]')
    return a.get_attribute("href") if a else None


def test_generate_listen_look_download(tab, tmp_path):
    pg = tab
    pg.click("#generate-btn")
    waited = wait_for_song(pg)
    assert waited < 30
    # the picture is shown (a loaded image, not a placeholder)
    pg.wait_for_function("() => { const i = document.querySelector('#pianoroll img');"
                         " return i && i.complete && i.naturalWidth > 500; }")
    # the statistics table sits next to the corpus's
    rows = pg.query_selector_all("#stats table tr")
    assert len(rows) >= 6 and "corpus" in pg.inner_text("#stats")
    assert "seed" in pg.inner_text("#song-info")
    # download the MIDI as a user would
    with pg.expect_download() as dl:
        pg.click('#midi a[download$=".mid"]')
    path = tmp_path / "song.mid"
    dl.value.save_as(path)
    assert read_midi(path).n_notes > 20
    shot(pg, "page_generate")


def test_continue_feeds_the_song_back(tab):
    pg = tab
    pg.click("#generate-btn")
    wait_for_song(pg)
    first = pg.inner_text("#song-info")
    notes_before = int(first.split(":")[1].split("notes")[0].strip())
    href = wav_href(pg)
    pg.click("#continue-btn")
    wait_for_song(pg, href)
    after = pg.inner_text("#song-info")
    assert int(after.split(":")[1].split("notes")[0].strip()) > notes_before


def test_bad_primer_shows_a_message_and_the_page_keeps_working(tab, tmp_path):
    pg = tab
    fake = tmp_path / "tune.mid"
    fake.write_text("definitely not MIDI")
    upload(pg, "#primer", fake)
    pg.click("#generate-btn")
    pg.wait_for_selector("text=not a MIDI file")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / "page_error.png"))  # the message is a toast over the viewport
    pg.click("#primer button[aria-label='Clear']")
    pg.click("#generate-btn")
    wait_for_song(pg)


@pytest.mark.slow
def test_train_tab_trains_from_a_zip_and_lists_the_model(tab, chorale_zip, page_server):
    pg = tab
    pg.get_by_role("tab", name="Train").click()
    upload(pg, "#train-files", Path(chorale_zip))
    pg.fill("#minutes input", "0.08")
    pg.click("#train-btn")
    pg.wait_for_function("() => /done|failed|stopped/.test(document.querySelector('#train-status').innerText)",
                         timeout=180_000)
    status = pg.inner_text("#train-status")
    assert "done" in status, status
    assert "README.txt" in pg.inner_text("#skipped")
    pg.wait_for_function("() => { const i = document.querySelector('#loss-plot img');"
                         " return i && i.complete && i.naturalWidth > 300; }")
    shot(pg, "page_train")
    name = status.split("model ")[1].split()[0].strip("`")
    assert (page_server.runs / name / "model.safetensors").is_file()
    pg.get_by_role("tab", name="Generate").click()
    assert name in pg.input_value("#model input")  # the new model is listed and chosen
    pg.click("#generate-btn")
    wait_for_song(pg)
    assert name in pg.inner_text("#song-info")


def test_style_transfer_tab_converts_the_demo_and_a_recorded_upload(tab, tmp_path):
    """The tab opens with the demo clips loaded: Convert gives audio, a pitch plot and the
    metrics; a silent upload as the target shows a message and the tab keeps working."""
    import json

    import numpy as np
    import soundfile as sf

    pg = tab
    pg.get_by_role("tab", name="Style transfer").click()
    pg.click("#transfer-btn")
    pg.wait_for_function("() => { const i = document.querySelector('#transfer-pitch img');"
                         " return i && i.complete && i.naturalWidth > 500; }")
    pg.wait_for_selector("#transfer-audio audio, #transfer-audio a[download]")
    metrics = pg.inner_text("#transfer-metrics")
    assert "instant" in metrics and "transpose" in metrics, metrics
    import re

    shift = float(re.search(r'"?transpose"?\s*:\s*(-?[\d.]+)', metrics).group(1))
    assert shift > 3, metrics  # the empty Transpose box means: match the female target's register
    shot(pg, "page_transfer")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(32000), 16000)
    pg.click("#transfer-target button[aria-label='Clear']")
    pg.set_input_files("#transfer-target input[type=file]", str(silent))
    pg.wait_for_selector("#transfer-target audio, #transfer-target a[download]")
    pg.click("#transfer-btn")
    pg.wait_for_selector("text=is silent")


@pytest.mark.slow
def test_a_hummed_primer_is_continued(tab, tmp_path):
    import numpy as np
    import soundfile as sf

    from musicrnn.codec.melody import Melody
    from musicrnn.codec.synth import sing_festival

    on = np.arange(6) * 0.6
    y, sr = sing_festival(Melody(onsets_s=on, offsets_s=on + 0.5, pitches=np.array([60, 64, 67, 64, 60, 62]),
                                 velocities=np.full(6, 90), tempo_qpm=100.0))
    hum = tmp_path / "hum.wav"
    sf.write(hum, y, sr)
    pg = tab
    upload(pg, "#primer", hum)  # the upload is listed
    shot(pg, "page_hum_primer")
    pg.click("#generate-btn")
    wait_for_song(pg)
    midis = pg.query_selector_all("#midi a[download]")
    assert midis


def test_live_mode_converts_a_fake_microphone_as_it_streams(playwright, page_server, tmp_path):
    """The Style transfer tab's live mode, Chromium's microphone fed from a WAV (the demo
    male clip, looped): chunks go up, converted chunks come back, the info line counts them."""
    import soundfile as sf

    from conftest import ROOT

    y, sr = sf.read(ROOT / "corpora" / "voice" / "demo-source-male.wav", dtype="int16")
    wav = tmp_path / "mic.wav"
    sf.write(wav, y, sr, subtype="PCM_16")
    args = ["--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"]
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    try:
        ctx = b.new_context(viewport={"width": 1400, "height": 1400}, permissions=["microphone"])
        pg = ctx.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        seen = []  # what the page asked of the server and said, for a stalled recording's report
        pg.on("request", lambda r: seen.append(f"{time.monotonic():.2f} {r.method} {r.url[len(page_server.url):][:90]}"))
        pg.on("console", lambda m: seen.append(f"{time.monotonic():.2f} console.{m.type}: {m.text[:200]}"))
        pg.goto(page_server.url)
        pg.get_by_role("tab", name="Style transfer").click()
        # The tab's audio recorder loads its modules when the tab first shows. A Record click
        # before they have loaded starts a recording that never sends a chunk (Gradio's page;
        # seen under load: start_recording posted before the recorder's worklets were
        # fetched, then no upload for 20 s, where a working run uploads its first chunk 0.13 s
        # after). So wait until the page has asked for nothing new for a second, as a person
        # reading the tab would.
        quiet_since = time.monotonic() + 20
        while time.monotonic() < quiet_since:
            last = float(seen[-1].split(" ", 1)[0]) if seen else 0.0
            if time.monotonic() - last > 1.0:
                break
            pg.wait_for_timeout(100)
        converted = ("() => /live: ([2-9]|\\d\\d+)\\.\\d s converted/.test("
                     "document.querySelector('#live-info')?.innerText || '')")
        mic = pg.locator("#live-mic")
        mic.get_by_role("button", name="Record").click()
        # Should a first recording still send nothing (2 of 8 runs beside two or three busy
        # processes, before the wait above), record once more, as a person would; a second
        # failure fails the test, with what the page showed and asked for.
        try:
            pg.wait_for_function("() => (document.querySelector('#live-info')?.innerText || '').length > 0",
                                 timeout=20_000)
        except Exception:
            shot(pg, "page_live_stalled")
            (SCREENSHOTS / "page_live_stalled.txt").write_text("\n".join(seen) + "\n")
            mic.get_by_role("button", name="Stop").click()
            mic.get_by_role("button", name="Record").click()
        try:
            pg.wait_for_function(converted, timeout=TIMEOUT_MS)
        except Exception:
            shot(pg, "page_live_failed")
            raise AssertionError(f"live info after {TIMEOUT_MS / 1000:g} s: {pg.inner_text('#live-info')!r}; "
                                 f"output: {pg.inner_text('#live-out')[:200]!r}") from None
        text = pg.inner_text("#live-info")
        shot(pg, "page_live")
        (SCREENSHOTS / "page_live.txt").write_text("\n".join(seen) + "\n")
        pg.locator("#live-mic").get_by_role("button", name="Stop").click()
    finally:
        b.close()
    assert "delay 80 ms" in text and "transposed +12 semitones" in text
