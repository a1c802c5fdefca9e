"""Named codecs a new model can be trained with (``musicrnn train --codec``): settings of
:class:`~musicrnn.codec.vocab.CodecConfig` over its defaults. No imports, so the command
line can list them without loading NumPy."""

CODECS = {
    "default": {},
    # for multi-track songs: drums declared first, a repeated drum bar written as one token
    "band": {"drums_first": True, "drum_repeats": 8},
    # any music: the same, and a bar whose pitched notes repeat one up to 8 bars back (a
    # tune's AABB) written as one token too
    "repeats": {"drums_first": True, "drum_repeats": 8, "bar_repeats": 8},
}
