"""Named codecs a new model can be trained with (``musicrnn train --codec``): settings of
:class:`~musicrnn.codec.vocab.CodecConfig` over its defaults. No imports, so the command
line can list them without loading NumPy."""

CODECS = {
    "default": {},
    # repeats written as such: a bar whose drums, or whose pitched notes (every instrument's),
    # equal those of the bar 1-8 back is one token; a band's drums are declared first
    "repeats": {"drums_first": True, "drum_repeats": 8, "bar_repeats": 8},
}
