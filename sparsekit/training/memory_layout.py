"""Channels-last memory layout for the model (`--channels-last`), refused where torch's CPU
kernels are known to corrupt memory with it.

Measured with torch 2.14.1 on x86-64: when oneDNN runs its AVX2 (or older) kernels, the backward
pass of a strided 1x1 convolution with few input channels, in channels-last layout, writes
outside its buffers; glibc then aborts the whole process ("munmap_chunk(): invalid pointer",
"corrupted double-linked list"), at one thread always and at two for some shapes. ResNet-20 at
width 0.25 has such a shortcut (4 -> 8 channels, stride 2). Its 3x3 and unstrided convolutions,
AVX-512 kernels and 8 or more input channels did not corrupt memory in the same runs.
"""
import os

import torch
from torch import nn

from ..core.errors import SparsekitError

# Below this many input channels a strided 1x1 convolution is refused (crashes seen at 1-6).
FEWEST_SAFE_CHANNELS = 8


def layout(model: nn.Module, channels_last: bool, device: torch.device) -> None:
    """Channels-last weights, after checking that training them cannot corrupt memory here."""
    if not channels_last:
        return
    if device.type == "cpu" and _onednn_below_avx512():
        unsafe = _unsafe_convolution(model)
        if unsafe is not None:
            raise SparsekitError(
                f"channels_last is refused on this CPU: torch {torch.__version__}'s oneDNN kernels without AVX-512 "
                f"corrupt memory in the backward of a strided 1x1 convolution with fewer than "
                f"{FEWEST_SAFE_CHANNELS} input channels ({unsafe}); train without channels_last")
    model.to(memory_format=torch.channels_last)


def _onednn_below_avx512() -> bool:
    """Whether oneDNN may run kernels older than AVX-512: the CPU lacks it, or the environment
    holds oneDNN below it."""
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return False
    ceiling = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    if ceiling.startswith(("SSE", "AVX")) and not ceiling.startswith(("AVX512", "AVX10")):
        return True
    return torch.backends.cpu.get_cpu_capability() != "AVX512"


def _unsafe_convolution(model: nn.Module):
    for name, module in model.named_modules():
        if (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and max(module.stride) > 1
                and module.in_channels < FEWEST_SAFE_CHANNELS):
            return f"{name}: {module.in_channels} input channels, stride {module.stride[0]}"
    return None
