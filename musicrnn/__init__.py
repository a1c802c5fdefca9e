"""musicrnn: music as sequences, learned by recurrent and attention models.

This file must import nothing heavy: ``python3 -m musicrnn.install`` runs it on a
machine that has no dependencies yet.
"""

__version__ = "0.1.0"
