"""The sharded readers' error (formats/errors.py): a user error with the input's exit code,
importable without Spark (the CLI catches it)."""

from __future__ import annotations

import subprocess
import sys

from spark_prune.errors import EXIT_FAILURE, InputError, UserError
from spark_prune.formats import ShardError as Exported
from spark_prune.formats.errors import ShardError


def test_a_shard_error_is_an_input_error() -> None:
    error = ShardError("shard 3: a.parquet has 2 rows but a.npz has 1")
    assert isinstance(error, InputError) and isinstance(error, UserError)
    assert isinstance(error, ValueError)  # InputError is one
    assert error.exit_code == EXIT_FAILURE  # valid config, input that does not fit
    assert Exported is ShardError


def test_importing_it_starts_no_spark() -> None:
    code = (
        "import sys; import spark_prune.formats.errors; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'pyarrow')); "
        "print(heavy[:3], file=sys.stderr); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
