"""The command lines' shared parser: a bad argument is one `error:` line (a `SparsekitError`),
not argparse's usage block plus a message, for `sparsekit` and `sparsekit notebooks` alike."""
import argparse

from ..core.errors import SparsekitError


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        raise SparsekitError(f"{message} (see `{self.prog} --help`)")
