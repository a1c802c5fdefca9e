"""The codec's one-line error for audio (``MidiError``, its MIDI counterpart, lives in
``midi``). Standard library only, so that the command line can catch it without loading
NumPy or librosa."""


class AudioError(ValueError):
    """Audio that cannot be used; ``str(err)`` is one line naming the file and the problem."""

    def __init__(self, path=None, problem: str = ""):
        self.path = None if path is None else str(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever a decoder said
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)
