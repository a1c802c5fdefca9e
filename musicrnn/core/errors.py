"""Errors that reach the user as one line (the CLI prints them and exits with code 2).
Torch-free, so that the command line can catch them without loading torch."""


class CheckpointError(ValueError):
    """A checkpoint or output folder that cannot be used; one line naming the path and problem."""


class DataError(ValueError):
    """Data that cannot be trained on or scored (too little, changed); the message says why."""


class SettingsError(ValueError):
    """A setting (flag value) that cannot be used; the message names it and the allowed values."""


class AudioError(ValueError):
    """Audio that cannot be used; ``str(err)`` is one line naming the file and the problem."""

    def __init__(self, path=None, problem: str = ""):
        self.path = None if path is None else str(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever a decoder said
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)
