"""Training audio from a synthetic voice: espeak-ng reading ``sentences.TRAINING_SENTENCES``
(``musicrnn voice espeak``), so a voice model can be trained, tested and demonstrated with
no recordings at hand."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import SettingsError
from .sentences import TRAINING_SENTENCES

SPEEDS = (175, 200)  # words per minute: espeak-ng's default and a little faster (about 5 minutes in all)


def espeak_voice_files(voice: str, folder, speeds=SPEEDS) -> list[Path]:
    """Write every training sentence spoken by espeak-ng ``voice`` (e.g. ``en-us+f3``) at
    each speed into ``folder`` as WAVs (22,050 Hz); returns their paths. Files already
    there are kept (the same voice, text and speed give the same file)."""
    from .evalset import espeak_wav

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return [espeak_wav(text, voice, folder / f"{voice.replace('+', '_').replace('/', '_')}-{wpm}-{i:03d}.wav", wpm)
                for wpm in speeds for i, text in enumerate(TRAINING_SENTENCES)]
    except RuntimeError as e:  # espeak-ng missing or refusing the voice: one line
        raise SettingsError(f"{e} (voices: espeak-ng --voices)") from None
