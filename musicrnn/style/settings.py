"""The voice model's training defaults, in a module light enough for the command line's
parser to read (no NumPy): written here once, used by ``voice.train_voice`` and the help."""

TRAIN_DEFAULTS = {"batch": 16, "lr": 2e-3, "epochs": 40, "patience": 6}  # a voice run's; TrainConfig's fill the rest
