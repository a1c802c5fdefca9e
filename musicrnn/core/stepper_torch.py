"""The torch streaming stepper: sampling steps through a model's own ``forward`` (for a GPU).

Any family's torch model drives it; on the CPU the NumPy steppers (``sample.NumpyStepper``,
``transformer_np.TransformerStepper``) are faster, and :func:`musicrnn.core.models.stepper_for`
picks between them. It lives apart from the model classes so that the registry
(``models``) imports no model module, and no model module imports the registry back.
"""

from __future__ import annotations

import torch


class TorchStepper:
    """Streaming steps through any family's own ``forward`` with its state (for a GPU; on
    the CPU the NumPy steppers are faster and are what ``models.stepper_for`` picks)."""

    def __init__(self, model, output: str = "softmax"):
        self.model, self.output = model.eval(), output
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def start(self, prompt, n: int):
        x = torch.as_tensor(list(prompt), dtype=torch.long, device=self.device).view(1, -1).expand(n, -1)
        logits, state = self.model(x)
        return logits[:, -1].float().cpu().numpy(), state

    @torch.no_grad()
    def step(self, tokens, state):
        logits, state = self.model(torch.as_tensor(tokens, dtype=torch.long, device=self.device).view(-1, 1), state)
        return logits[:, -1].float().cpu().numpy(), state
