"""The sharded readers' error (no heavy imports: the CLI catches it to print one line)."""

from spark_prune.errors import InputError


class ShardError(InputError):
    """A sharded input is malformed (missing partner file, misaligned rows, unknown array)."""
