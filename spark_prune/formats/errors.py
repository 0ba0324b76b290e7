"""The sharded readers' error (no heavy imports: the CLI catches it to print one line)."""


class ShardError(ValueError):
    """A sharded input is malformed (missing partner file, misaligned rows, unknown array)."""
