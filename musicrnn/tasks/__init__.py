"""Sequence tasks: each hands the core its sequences, its loss and its metric."""
