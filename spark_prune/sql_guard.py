"""``spark-prune sql`` runs queries only: anything that could write is refused before it runs.

``spark.sql(q)`` executes commands (DELETE, INSERT, OPTIMIZE ...) eagerly, so the decision is
taken on the text and the parsed plan, before ``spark.sql``:

1. the statement's first keyword (after comments) must be one of ``QUERY_KEYWORDS``;
2. on a classic session, Spark's own parser parses the query exactly as it will run, and
   every node of the unresolved plan must be a query node: a ``Command`` is allowed only
   when it is a known read-only one (``READ_ONLY_COMMANDS``: SHOW, DESCRIBE, EXPLAIN), and
   ``InsertIntoStatement`` never is (``WITH ... INSERT INTO`` parses to a ``WITH`` node above
   an insert).
3. on Spark Connect (no parser reachable) the statement must in addition contain none of the
   ``WRITE_KEYWORDS`` as a word anywhere, quotes and comments included: a lexer of our own
   would have to agree with Spark's on every corner (nested comments, hints, escapes), so this
   is deliberately blunt and may refuse a harmless query.
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
_REFUSED = (
    "spark-prune sql runs read-only queries (SELECT, WITH, VALUES, TABLE, FROM, SHOW, DESCRIBE, "
    "EXPLAIN)"
)


def check_read_only(spark: SparkSession, query: str) -> None:
    """Raise ``ReadOnlyQueryError`` unless ``query`` is one read-only statement."""
    text = _without_comments(query).strip().rstrip(";").strip()
    if not text:
        raise ReadOnlyQueryError("the query is empty; give one SQL query, e.g. 'SELECT ...'")
    keyword = _first_keyword(text)
    if keyword in WRITE_KEYWORDS:
        raise ReadOnlyQueryError(f"{keyword} statements are refused: {_REFUSED}")
    if keyword not in QUERY_KEYWORDS:  # a typo ("SELEC") or a statement we do not know
        raise ReadOnlyQueryError(f"the query starts with {keyword!r}, not a query: {_REFUSED}")
    parser = _parser(spark)
    if parser is None:
        _check_words(query)
        return
    try:
        plan = parser.parsePlan(query)  # the text spark.sql will run, comments and all
    except Exception as exc:
        raise ReadOnlyQueryError(f"the query does not parse: {first_line(exc)}") from None
    refused = _writing_node(spark, plan)
    if refused is not None:
        raise ReadOnlyQueryError(f"the statement runs {refused}, not a query: {_REFUSED}")


def _without_comments(query: str) -> str:
    """``query`` with every comment replaced by a space, cut left to right close to Spark's
    lexer (``--`` to the line's end, nested ``/* */``, ``/*+`` hints as code, quotes with
    backslash escapes, not in ``r'...'``). Used for the first keyword only: the classic check
    parses with Spark's own parser, the Connect one reads raw words."""
    kept: list[str] = []
    start = i = 0
    while i < len(query):
        end, kind = _token_at(query, i)
        if kind is None:
            i = max(end, i + 1)
            continue
        kept += [query[start:i], " " if kind == "comment" else query[i:end]]
        start = i = end
    kept.append(query[start:])
    return "".join(kept)


def _token_at(query: str, i: int) -> tuple[int, str | None]:
    """Where the comment or quoted string starting at ``i`` ends (its kind), or (i, None)."""
    if query.startswith("--", i):
        ends = [j for j in (query.find("\n", i), query.find("\r", i)) if j >= 0]
        return min(ends, default=len(query)), "comment"
    if query.startswith("*/", i):  # the end of a hint: code, not the start of a comment
        return i + 2, None
    if query.startswith("/*", i) and not query.startswith("/*+", i):
        return _block_comment_end(query, i), "comment"
    quote = query[i]
    if quote not in "'\"`":
        return i, None
    word_before = i > 1 and (query[i - 2].isalnum() or query[i - 2] == "_")
    raw = i > 0 and query[i - 1] in "rR" and not word_before
    backslash = quote != "`" and not raw
    j = i + 1
    while j < len(query) and query[j] != quote:
        j += 2 if backslash and query[j] == "\\" else 1
    return min(j + 1, len(query)), "quoted"


def _block_comment_end(query: str, i: int) -> int:
    depth = 0
    while i < len(query):
        if query.startswith("/*", i) and not query.startswith("/*+", i):
            depth, i = depth + 1, i + 2
        elif query.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(query)


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


def _check_words(query: str) -> None:
    """Refuse a write keyword anywhere in ``query`` as a word (Spark's identifier characters
    delimit words), in quotes and comments too."""
    words = set(re.findall(r"[A-Za-z0-9_]+", query.upper()))
    found = sorted(words.intersection(WRITE_KEYWORDS))
    if found:
        raise ReadOnlyQueryError(f"the statement contains {found[0]}: {_REFUSED}")
