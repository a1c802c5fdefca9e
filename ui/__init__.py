"""The musicrnn page (Gradio), installed as the package ``musicrnn.ui``: ``musicrnn ui``."""
