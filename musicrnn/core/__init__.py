"""The shared research core: models, training loop, sampling, checkpoints.

Nothing here knows about MIDI, audio or markets: a task hands the core integer
sequences (and where each one starts), and gets back a trained model and samples.
"""
