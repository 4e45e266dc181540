"""Messages and downloads shared by the datasets that live in files under `root`."""
import contextlib

from ..errors import SparsekitError

DOWNLOAD_HINT = "pass download=True (CLI: --download) to fetch it"


def not_found(title: str, folder: str, expected: str) -> SparsekitError:
    return SparsekitError(f"{title} not found in {folder!r} (expected {expected}); "
                          f"{DOWNLOAD_HINT}")


@contextlib.contextmanager
def downloading(title: str, url: str):
    """Turn a failed download (no network, bad checksum) into a one-line user error."""
    try:
        yield
    except (OSError, RuntimeError) as error:
        # torchvision reports a checksum mismatch as RuntimeError, network failures as
        # URLError/OSError; both are the user's environment, not a sparsekit bug.
        raise SparsekitError(f"could not download {title} from {url}: {error}") from error
