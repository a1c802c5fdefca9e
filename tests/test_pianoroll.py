"""Piano-roll pictures (musicrnn.pianoroll): real files in, PNGs of the right size and content out."""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from musicrnn.codec import MidiError, Score, read_midi
from musicrnn.pianoroll import (
    DRUM_COLOR, GM_FAMILIES, GM_PROGRAMS, note_name, pianoroll_png, program_choices, program_colors,
    program_family, program_name, program_number,
)

ROOT = Path(__file__).resolve().parent.parent
FOLK = ROOT / "corpora" / "folk"
OPENMSX = Path("/usr/share/games/openttd/baseset/openmsx")  # Debian openttd-openmsx (GPL-2)


@pytest.fixture(scope="module")
def folk_path() -> Path:
    files = sorted(FOLK.rglob("*.mid"))
    if not files:
        pytest.fail(f"no .mid files under {FOLK}: the folk corpus is missing")
    return files[0]


@pytest.fixture(scope="module")
def drum_path() -> Path:
    """A dense multi-track OpenMSX piece with drums (keep_on_rolling: ~6000 notes, 8 programs)."""
    if not OPENMSX.is_dir():
        pytest.fail("Debian package openttd-openmsx is missing: run `python3 -m musicrnn.install --test`")
    preferred = OPENMSX / "keep_on_rolling.mid"
    if preferred.is_file():
        return preferred
    for p in sorted(OPENMSX.glob("*.mid")):
        if read_midi(p).drum.any():
            return p
    pytest.fail(f"no OpenMSX file with drums in {OPENMSX}")


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(np.int64)


def _n_colours(img: np.ndarray) -> int:
    return int(np.unique(img[..., 0] * 65536 + img[..., 1] * 256 + img[..., 2]).size)


def _near(img: np.ndarray, colour, tol: int = 12) -> int:
    """Pixels within ``tol`` (per channel) of ``colour``."""
    c = np.array([round(v * 255) for v in to_rgb(colour)])
    return int((np.abs(img - c).max(axis=-1) <= tol).sum())


def _tinted(img: np.ndarray, rgb, min_alpha: float = 0.4) -> int:
    """Pixels that are ``rgb`` laid over white with some opacity >= min_alpha (velocity shading)."""
    c = np.array(rgb) * 255.0
    depth = 255.0 - c  # how far each channel of the colour is from white
    ch = depth > 40  # channels that tell the opacity
    alpha = (255.0 - img[..., ch]) / depth[ch]
    a = alpha.mean(axis=-1)
    expected = 255.0 - a[..., None] * depth
    ok = (np.abs(img - expected).max(axis=-1) <= 10) & (a >= min_alpha) & (a <= 1.05)
    return int(ok.sum())


def test_gm_program_table():
    assert len(GM_PROGRAMS) == 128 and len(set(GM_PROGRAMS)) == 128
    assert GM_PROGRAMS[0] == "Acoustic Grand Piano"
    assert GM_PROGRAMS[40] == "Violin"
    assert GM_PROGRAMS[73] == "Flute"
    assert GM_PROGRAMS[127] == "Gunshot"
    assert (GM_PROGRAMS[24], GM_PROGRAMS[33], GM_PROGRAMS[56], GM_PROGRAMS[81]) == (
        "Acoustic Guitar (nylon)", "Electric Bass (finger)", "Trumpet", "Lead 2 (sawtooth)")
    assert program_name(41) == "Viola" and program_family(41) == "Strings"
    assert len(GM_FAMILIES) == 16 and program_family(0) == "Piano" and program_family(127) == "Sound Effects"
    with pytest.raises(ValueError):
        program_name(128)
    assert [note_name(p) for p in (60, 69, 21, 0, 127)] == ["C4", "A4", "A0", "C-1", "G9"]


def test_program_choices_read_back():
    """The page's instrument list: every "number name" entry, a number or a name reads back."""
    choices = program_choices()
    assert len(choices) == 128 and choices[73] == "73 Flute"
    assert [program_number(c) for c in choices] == list(range(128))
    for given in ("73", 73, 73.0, " flute ", "FLUTE", "73 anything"):
        assert program_number(given) == 73
    for bad in ("128", "999 Kazoo", "kazoo", "", "-1", "7.5", None):
        with pytest.raises(ValueError, match="choose a General MIDI instrument from the list"):
            program_number(bad)


def test_folk_melody(folk_path, tmp_path):
    score = read_midi(folk_path)
    pianoroll_png(score, tmp_path / "warmup.png")  # first call loads fonts; time the next one
    t = time.perf_counter()
    out = pianoroll_png(score, tmp_path / "folk.png", title=folk_path.stem, width_px=1000, height_px=360)
    elapsed = time.perf_counter() - t
    assert elapsed < 1.0, f"folk melody ({score.n_notes} notes) took {elapsed:.2f} s"
    assert out == tmp_path / "folk.png" and out.is_file()
    img = _rgb(out)
    assert abs(img.shape[1] - 1000) <= 2 and abs(img.shape[0] - 360) <= 2
    assert _n_colours(img) > 8
    programs = np.unique(score.program[~score.drum]).tolist()
    for prog, rgb in program_colors(programs).items():
        assert _tinted(img, rgb) > 300, f"program {prog}'s colour is missing from the picture"
    assert _near(img, DRUM_COLOR) == 0  # no drums in a folk tune, so no drum marks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folk.png", "warmup.png"]  # no temp files left


def test_multitrack_with_drums(drum_path, tmp_path):
    score = read_midi(drum_path)
    assert score.drum.any() and np.unique(score.program[~score.drum]).size >= 3
    t = time.perf_counter()
    out = pianoroll_png(drum_path, tmp_path / "sub" / "dir" / "drums.png", title=drum_path.name)
    elapsed = time.perf_counter() - t
    assert elapsed < 3.0, f"{drum_path.name} ({score.n_notes} notes) took {elapsed:.2f} s"
    img = _rgb(out)
    assert abs(img.shape[1] - 1200) <= 2 and abs(img.shape[0] - 420) <= 2
    assert _n_colours(img) > 30
    assert _near(img, DRUM_COLOR) > 200, "the drum marks are missing"
    colours = program_colors(score.program[~score.drum].tolist())
    assert len(set(colours.values())) == len(colours)  # one colour per program
    for prog, rgb in colours.items():
        assert _tinted(img, rgb) > 20, f"program {prog}'s colour is missing from the picture"


def test_empty_score_says_no_notes(tmp_path):
    out = pianoroll_png(Score(tpq=480), tmp_path / "empty.png", title="nothing", width_px=600, height_px=240)
    img = _rgb(out)
    assert abs(img.shape[1] - 600) <= 2 and abs(img.shape[0] - 240) <= 2
    assert _n_colours(img) > 2  # frame and text drawn, not a blank canvas
    assert _near(img, DRUM_COLOR) == 0


def test_overwrites_and_rejects_bad_input(folk_path, tmp_path):
    target = tmp_path / "roll.png"
    target.write_bytes(b"old")
    pianoroll_png(str(folk_path), target, title="$not math$ 100%")  # str path; '$' must not break it
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi")
    with pytest.raises(MidiError):
        pianoroll_png(bad, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mid", "roll.png"]


def test_concurrent_renders(folk_path, drum_path, tmp_path):
    jobs = [(folk_path, 1200, 420), (drum_path, 900, 300), (folk_path, 640, 480), (drum_path, 1200, 420)]

    def render(i):
        src, w, h = jobs[i]
        return pianoroll_png(read_midi(src), tmp_path / f"t{i}.png", title=f"thread {i}", width_px=w, height_px=h)

    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(render, range(len(jobs))))
    for out, (_, w, h) in zip(outs, jobs):
        img = _rgb(out)
        assert abs(img.shape[1] - w) <= 2 and abs(img.shape[0] - h) <= 2
        assert _n_colours(img) > 8


def test_does_not_import_torch():
    code = "import sys, musicrnn.pianoroll; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
