"""Mixed precision for the training step (`--amp bf16|fp16`): the forward and the loss run
under autocast; fp16 adds a gradient scaler (its small gradients would underflow), whose
state travels in the checkpoint so a resumed run scales as the uninterrupted one."""
import contextlib
from typing import Any, Dict, Optional

import torch

from ..core.errors import SparsekitError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    def __init__(self, amp: str, device: torch.device):
        self.dtype = DTYPES.get(amp)
        self.device_type = device.type
        try:
            self.scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
        except (RuntimeError, ValueError) as error:
            raise SparsekitError(f"amp fp16 is not available on {device}: {error}") from None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """True gradients from here on (after the data-parallel sum, so every rank sees the
        same overflow and skips the same steps)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
        else:  # skipped when a gradient overflowed; the scale then shrinks
            self.scaler.step(optimizer)
            self.scaler.update()

    def state_dict(self) -> Optional[Dict[str, Any]]:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: Optional[Dict[str, Any]]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)

