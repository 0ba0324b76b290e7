"""``spark-prune sql`` runs queries only: anything that could write is refused before it runs.

``spark.sql(q)`` executes commands (DELETE, INSERT, OPTIMIZE ...) eagerly, so the decision is
taken on the text and the parsed plan, before ``spark.sql``:

1. the statement's first keyword (after comments) must be one of ``QUERY_KEYWORDS``;
2. on a classic session, Spark's own parser parses it and every node of the unresolved plan
   must be a query node: a ``Command`` is allowed only when it is a known read-only one
   (``READ_ONLY_COMMANDS``: SHOW, DESCRIBE, EXPLAIN), and ``InsertIntoStatement`` never is
   (``WITH ... INSERT INTO`` parses to a ``WITH`` node above an insert).
3. on Spark Connect (no parser reachable) the statement must in addition contain none of the
   ``WRITE_KEYWORDS`` as a word outside quotes: conservative, it may refuse a harmless query.
"""

from __future__ import annotations

import re
from typing import Any

from pyspark.sql import SparkSession

from spark_prune.errors import ReadOnlyQueryError, first_line

QUERY_KEYWORDS = ("SELECT", "WITH", "VALUES", "TABLE", "FROM", "SHOW", "DESCRIBE", "DESC",
                  "EXPLAIN", "(")  # fmt: skip
READ_ONLY_COMMANDS = frozenset(
    {
        "ShowTables",
        "ShowTablesExtended",
        "ShowViews",
        "ShowColumns",
        "ShowFunctions",
        "ShowTableProperties",
        "ShowCreateTable",
        "ShowPartitions",
        "DescribeRelation",
        "DescribeColumn",
        "DescribeFunction",
        "DescribeNamespace",
        "ExplainCommand",
        "DescribeDeltaHistory",
        "DescribeDeltaDetailCommand",
    }
)
WRITE_KEYWORDS = ("INSERT", "DELETE", "UPDATE", "MERGE", "DROP", "CREATE", "ALTER", "TRUNCATE",
                  "OPTIMIZE", "VACUUM", "RESTORE", "CACHE", "UNCACHE", "REFRESH",
                  "SET", "RESET", "ADD", "LOAD", "MSCK", "REORG", "CLONE", "GRANT", "REVOKE",
                  "USE", "CONVERT", "COPY")  # fmt: skip
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")
_REFUSED = "spark-prune sql runs read-only queries (SELECT, WITH, VALUES, SHOW, DESCRIBE, EXPLAIN)"


def check_read_only(spark: SparkSession, query: str) -> None:
    """Raise ``ReadOnlyQueryError`` unless ``query`` is one read-only statement."""
    text = _COMMENTS.sub(" ", query).strip().rstrip(";").strip()
    if not text:
        raise ReadOnlyQueryError("the query is empty; give one SQL query, e.g. 'SELECT ...'")
    keyword = _first_keyword(text)
    if keyword in WRITE_KEYWORDS:
        raise ReadOnlyQueryError(f"{keyword} statements are refused: {_REFUSED}")
    if keyword not in QUERY_KEYWORDS:  # a typo ("SELEC") or a statement we do not know
        raise ReadOnlyQueryError(f"the query starts with {keyword!r}, not a query: {_REFUSED}")
    parser = _parser(spark)
    if parser is None:
        _check_words(text)
        return
    try:
        plan = parser.parsePlan(text)
    except Exception as exc:
        raise ReadOnlyQueryError(f"the query does not parse: {first_line(exc)}") from None
    refused = _writing_node(spark, plan)
    if refused is not None:
        raise ReadOnlyQueryError(f"the statement runs {refused}, not a query: {_REFUSED}")


def _first_keyword(text: str) -> str:
    if text.startswith("("):
        return "("
    match = re.match(r"[A-Za-z_]+", text)
    return match.group(0).upper() if match else text[:1]


def _parser(spark: SparkSession) -> Any:
    """Spark's SQL parser on a classic session; None on Spark Connect."""
    try:
        return spark._jsparkSession.sessionState().sqlParser()
    except Exception:
        return None


def _writing_node(spark: SparkSession, plan: Any) -> str | None:
    """The simple class name of the first node that could write, or None."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    command = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    stack = [plan]
    while stack:
        node = stack.pop()
        name = node.getClass().getSimpleName()
        if name == "InsertIntoStatement":
            return "INSERT"
        if command.isInstance(node) and name not in READ_ONLY_COMMANDS:
            return name
        children = node.children()
        stack.extend(children.apply(i) for i in range(children.size()))
        if name == "UnresolvedWith":  # the WITH clause's own queries
            ctes = node.cteRelations()
            stack.extend(ctes.apply(i)._2() for i in range(ctes.size()))
    return None


def _check_words(text: str) -> None:
    words = set(re.findall(r"[A-Za-z_]+", _QUOTED.sub(" ", text).upper()))
    found = sorted(words.intersection(WRITE_KEYWORDS))
    if found:
        raise ReadOnlyQueryError(f"the statement contains {found[0]}: {_REFUSED}")
