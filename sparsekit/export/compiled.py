"""The compiled loops of the exported runtime's direct sparse convolutions (numba).

Plain numeric Python over numpy arrays (no torch, no sparsekit): `runtime.py` loads this file
beside it, so serving an exported network means copying both files; without numba (or without
this file) the runtime runs torch's CSR route instead, with the same results.

Each loop is compiled twice, on first use and cached on disk (in the user's cache folder, see
`cache_folder`, never inside the installed package): with `parallel=True` (prange
jobs spread over numba's threads) and serially. One thread runs the serial build, on the
calling thread: a parallel launch hands every call to numba's thread pool and back, which on
a busy machine can wait for the scheduler at every sparse conv (`benchmarks/sparse_inference.py`
measures the whole network; benchmarks/README.md).

Each (image, output channel) plane is one parallel job: it starts at the bias, then every
kept weight adds weight x its input channel's plane, shifted by the weight's tap. The
output plane stays in the L1 cache while the kept weights stream past it, and each update
is a contiguous (or strided) run that LLVM vectorises: no padding copy, no im2col, no index
conversion, work proportional to the kept multiply-adds. Every source run is sliced before
the loop: indexing a slice by the loop counter needs no negative-index check, which would
keep LLVM from vectorising (measured 6x slower).
"""
import os
import tempfile
import types
from pathlib import Path

import numba


def same(images, starts, channels, tap_rows, tap_cols, values, bias, out, width, padding, relu):
    """Stride 1, output as large as the input, planes flattened (images: N, C, H*W): one
    flat run per kept weight, shifted by (row shift x width + column shift). Where the
    column shift carries a read across a row's end into the next row, the few wrong terms
    are taken out again."""
    batch, outputs, area = out.shape
    height = area // width
    for job in numba.prange(batch * outputs):
        image, row = job // outputs, job % outputs
        plane = out[image, row]
        for t in range(area):
            plane[t] = bias[row]
        for entry in range(starts[row], starts[row + 1]):
            weight = values[entry]
            dy, dx = tap_rows[entry] - padding, tap_cols[entry] - padding
            first = max(0, -dy) * width + max(0, -dx)
            last = min(height, height - dy) * width - max(0, dx)
            if last <= first:
                continue
            shift = dy * width + dx
            source = images[image, channels[entry]]
            run = source[first + shift:last + shift]
            target = plane[first:last]
            for t in range(last - first):
                target[t] += weight * run[t]
            if dx != 0:  # columns whose tap falls off the row's edge read the neighbour row
                lo, hi = (0, -dx) if dx < 0 else (width - dx, width)
                for y in range(max(0, -dy), min(height, height - dy)):
                    for t in range(max(first, y * width + lo), min(last, y * width + hi)):
                        plane[t] -= weight * source[t + shift]
        if relu:
            for t in range(area):
                plane[t] = max(plane[t], 0.0)

def general(images, starts, channels, tap_rows, tap_cols, values, bias, out, stride, padding, relu):
    """Any stride and padding: row by row, each row's run clipped to the input."""
    batch, outputs, out_h, out_w = out.shape
    height, width = images.shape[2], images.shape[3]
    for job in numba.prange(batch * outputs):
        image, row = job // outputs, job % outputs
        plane = out[image, row]
        plane[:, :] = bias[row]
        for entry in range(starts[row], starts[row + 1]):
            weight = values[entry]
            i, j = tap_rows[entry] - padding, tap_cols[entry] - padding
            x0 = max(0, (-j + stride - 1) // stride)
            x1 = min(out_w, (width - 1 - j) // stride + 1)
            if x1 <= x0:
                continue
            source = images[image, channels[entry]]
            for y in range(out_h):
                line_index = y * stride + i
                if line_index < 0 or line_index >= height:
                    continue
                line = source[line_index, x0 * stride + j:(x1 - 1) * stride + j + 1:stride]
                target = plane[y, x0:x1]
                for x in range(x1 - x0):
                    target[x] += weight * line[x]
        if relu:
            for y in range(out_h):
                for x in range(out_w):
                    plane[y, x] = max(plane[y, x], 0.0)
def rows_times_columns(columns, starts, indices, values, bias, out, relu):
    """CSR weights times dense im2col columns, one output row per job: every kept weight
    adds weight x its (channel, tap) row, one contiguous run over all images' positions."""
    outputs, length = out.shape
    for row in numba.prange(outputs):
        target = out[row]
        for t in range(length):
            target[t] = bias[row]
        for entry in range(starts[row], starts[row + 1]):
            weight, source = values[entry], columns[indices[entry]]
            for t in range(length):
                target[t] += weight * source[t]
        if relu:
            for t in range(length):
                target[t] = max(target[t], 0.0)
def shifted(padded, starts, channels, offsets, values, bias, out, relu, chunk):
    """Stride 1 over all images at once: `padded` holds each input channel's zero-padded planes
    of all images back to back, so one kept weight's update is one run over many images'
    (padded) positions; positions in the padding margins are computed and cropped. The run is
    cut into chunks of `chunk` positions, taken one after the other for every output row, so
    the inputs a chunk reads stay in the cache while all rows use them."""
    outputs, length = out.shape
    chunks = (length + chunk - 1) // chunk
    for job in numba.prange(chunks * outputs):
        part, row = job // outputs, job % outputs
        begin = part * chunk
        size = min(length, begin + chunk) - begin
        target = out[row, begin:begin + size]
        for t in range(size):
            target[t] = bias[row]
        for entry in range(starts[row], starts[row + 1]):
            weight, offset = values[entry], offsets[entry] + begin
            source = padded[channels[entry], offset:offset + size]
            for t in range(size):
                target[t] += weight * source[t]
        if relu:
            for t in range(size):
                target[t] = max(target[t], 0.0)


LOOPS = (same, general, rows_times_columns, shifted)
_COMPILED = {}


def _renamed(loop, suffix: str):
    """The same loop under another name: numba's disk cache is keyed by the function's name, not
    by its compile options, so the serial build must not share the parallel one's name."""
    name = loop.__name__ + suffix
    copy = types.FunctionType(loop.__code__.replace(co_name=name, co_qualname=name), loop.__globals__, name)
    copy.__qualname__, copy.__doc__ = name, loop.__doc__
    return copy


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def cache_folder() -> Path:
    """Where compiled kernels are cached: $XDG_CACHE_HOME/sparsekit (else ~/.cache/sparsekit),
    or, with no home or a read-only one, a folder of this user's in the temporary directory."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    user = getattr(os, "getuid", lambda: "user")()
    for folder in (Path(base) / "sparsekit", Path(tempfile.gettempdir()) / f"sparsekit-cache-{user}"):
        if folder.is_absolute() and _writable(folder):
            return folder
    return None


def compiled(parallel: bool):
    """The loops (same, general, rows_times_columns, shifted), compiled parallel or serial."""
    if parallel not in _COMPILED:
        folder = cache_folder()
        # numba picks a function's cache folder when it is decorated: point it at ours for just
        # that moment (numba's own default is the package's __pycache__); nothing is cached if
        # no folder is writable.
        previous = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = str(folder / "numba") if folder else ""
        try:
            _COMPILED[parallel] = tuple(numba.njit(parallel=parallel, cache=folder is not None, nogil=True)(
                loop if parallel else _renamed(loop, "_serial")) for loop in LOOPS)
        finally:
            numba.config.CACHE_DIR = previous
    return _COMPILED[parallel]
