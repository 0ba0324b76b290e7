"""The errors a user can cause, and their exit codes.

Every mistake a user can make ends in one line on stderr, ``spark-prune: error: <message>``,
naming the key, column, path or value at fault and what to do (``cli.main`` prints it; the full
traceback only with ``--verbose``). Exit codes:

* ``2`` (``EXIT_USAGE``): the command line or the config is wrong in itself: unknown or bad key,
  missing config file, invalid YAML, a SQL statement that is not a query. Found before anything
  is read.
* ``1`` (``EXIT_FAILURE``): the config is valid but does not fit the data or the locations
  (missing input, not a Delta table, missing column, empty table, infeasible target, existing or
  unusable output, missing or incomplete run, another run holding the output), or Spark failed.
* ``130``: interrupted (Ctrl-C).

This module imports nothing from Spark: ``core`` and ``config`` use it too. Spark's own
exceptions are turned into these where they are raised (reads of inputs and runs), see
``spark_condition``.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A mistake the user can fix; its message is the whole story (no traceback needed)."""

    exit_code = EXIT_FAILURE


class ConfigError(UserError, ValueError):
    """A configuration key is unknown, missing, of the wrong type or out of range."""

    exit_code = EXIT_USAGE


class UsageError(UserError):
    """The command line asks for something the command does not do."""

    exit_code = EXIT_USAGE


class ReadOnlyQueryError(UsageError):
    """``spark-prune sql`` was given a statement that is not a query."""


class InputError(UserError, ValueError):
    """The input cannot be pruned as configured (missing, not Delta, bad column, empty...)."""


class InfeasibleTargetError(UserError, ValueError):
    """The config asks for more than the data allows (kept rows, clusters)."""


class OutputError(UserError):
    """The output location cannot be used (a file, not writable, a run's table unreadable)."""


class OutputExistsError(OutputError, FileExistsError):
    """The output location already holds a run and output.mode is 'error'."""


class RunBusyError(OutputError):
    """Another live run holds the output location's lock."""


class RunNotFoundError(UserError, FileNotFoundError):
    """``--run`` names no run (no manifest, no tables)."""


class IncompleteRunError(RunNotFoundError):
    """``--run`` names a location whose run never published its manifest."""


class RunMismatchError(UserError):
    """A run's table does not belong to the run its manifest names (run id in userMetadata)."""


def spark_condition(exc: BaseException) -> str:
    """The error condition of a Spark exception (``PATH_NOT_FOUND`` ...), or ''."""
    for getter in ("getCondition", "getErrorClass"):
        get = getattr(exc, getter, None)
        if get is not None:
            try:
                found = get()
            except Exception:  # py4j errors when the JVM side has none
                found = None
            if found:
                return str(found)
    return ""


PY4J_CALL = "An error occurred while calling"  # py4j's first line: only the JVM method


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (Spark's are long); for a py4j
    error, the Java exception's line after it (``java.io.IOException: Mkdirs failed ...``)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].startswith(PY4J_CALL) and len(lines) > 1:
        return lines[1].removeprefix(":").strip()
    return lines[0]


PYTHON_TRACEBACK = "Traceback (most recent call last):"


def worker_exception(exc: BaseException) -> tuple[str, str] | None:
    """(exception class, message) a Python worker raised, from the traceback Spark put in
    ``exc``'s message (the last one: the exception that ended the task); None if there is
    none."""
    text = str(exc)
    if PYTHON_TRACEBACK not in text:
        return None
    for line in text.rsplit(PYTHON_TRACEBACK, 1)[1].splitlines():
        found = re.match(r"^([A-Za-z_][\w.]*): (.+)$", line)  # the unindented last line
        if found:
            return found.group(1), found.group(2).strip()
    return None


def is_spark_error(exc: BaseException) -> bool:
    """A failure inside Spark, Delta or the JVM (not a bug in our Python code)."""
    module = type(exc).__module__
    return module.startswith(("pyspark.", "py4j.", "delta."))
