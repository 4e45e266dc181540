"""Messages and downloads shared by the datasets that live in files under `root`."""
import contextlib
import os
import shutil
from pathlib import Path

from ..core.errors import SparsekitError

DOWNLOAD_HINT = "pass download=True (CLI: --download) to fetch it"


def not_found(title: str, folder: str, expected: str) -> SparsekitError:
    return SparsekitError(f"{title} not found in {folder!r} (expected {expected}); "
                          f"{DOWNLOAD_HINT}")


@contextlib.contextmanager
def downloading(title: str, url: str, folder=None):
    """Turn a failed download (no network, bad checksum) into a one-line user error, and remove
    what the attempt created under `folder` (an empty dataset folder, a partial archive)."""
    folder = Path(folder) if folder is not None else None
    created = _missing_ancestors(folder) if folder is not None else []
    before = set(os.listdir(folder)) if folder is not None and folder.is_dir() else set()
    try:
        yield
    except (OSError, RuntimeError) as error:
        if folder is not None and folder.is_dir():
            for name in set(os.listdir(folder)) - before:
                _remove(folder / name)
        for directory in created:  # innermost first; only if the attempt left them empty
            with contextlib.suppress(OSError):
                directory.rmdir()
        # torchvision reports a checksum mismatch as RuntimeError, network failures as
        # URLError/OSError; both are the user's environment, not a sparsekit bug.
        raise SparsekitError(f"could not download {title} from {url}: {error}") from error


def _missing_ancestors(folder: Path):
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()
