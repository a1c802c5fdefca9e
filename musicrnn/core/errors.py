"""Errors that reach the user as one line (the CLI prints them and exits with code 2).
Torch-free, so that the command line can catch them without loading torch."""


class CheckpointError(ValueError):
    """A checkpoint or output folder that cannot be used; one line naming the path and problem."""


class DataError(ValueError):
    """Data that cannot be trained on or scored (too little, changed); the message says why."""


class SettingsError(ValueError):
    """A setting (flag value) that cannot be used; the message names it and the allowed values."""
