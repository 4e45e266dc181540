"""A short digest of which positions a mask keeps: the same digest means the same mask, so a run
record can name the exact mask it trained even when the mask came in as an object."""
import hashlib
from typing import Mapping

import torch


def mask_digest(mask: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the layer names (sorted) and the kept flags, first 16 hex digits."""
    digest = hashlib.sha256()
    for name in sorted(mask):
        digest.update(name.encode())
        digest.update(mask[name].detach().cpu().flatten().to(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
