"""Training audio from a synthetic voice: espeak-ng reading ``sentences.TRAINING_SENTENCES``
(``musicrnn voice espeak``), so a voice model can be trained, tested and demonstrated with
no recordings at hand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..core.errors import SettingsError
from .sentences import TRAINING_SENTENCES

SPEEDS = (175, 200)  # words per minute: espeak-ng's default and a little faster (about 5 minutes in all)


def espeak_voice_files(voice: str, folder, speeds=SPEEDS) -> list[Path]:
    """Write every training sentence spoken by espeak-ng ``voice`` (e.g. ``en-us+f3``) at
    each speed into ``folder`` as WAVs (22,050 Hz); returns their paths. Files already
    there are kept (the same voice, text and speed give the same file)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SettingsError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for wpm in speeds:
        for i, text in enumerate(TRAINING_SENTENCES):
            p = folder / f"{voice.replace('+', '_').replace('/', '_')}-{wpm}-{i:03d}.wav"
            if not p.is_file():
                tmp = p.with_suffix(".tmp.wav")
                r = subprocess.run([exe, "-v", voice, "-s", str(wpm), "-w", str(tmp), text], capture_output=True,
                                   text=True)
                if r.returncode != 0 or not tmp.is_file():
                    raise SettingsError(f"espeak-ng -v {voice}: {r.stderr.strip() or 'failed'} (see espeak-ng --voices)")
                tmp.replace(p)
            paths.append(p)
    return paths
