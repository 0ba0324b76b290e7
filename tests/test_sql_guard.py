"""``spark-prune sql`` runs queries only (sql_guard.py): anything that could write is refused
before it runs, on the text and on Spark's parsed plan; the Spark Connect word check."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune.cli import main
from spark_prune.errors import EXIT_USAGE, ReadOnlyQueryError
from spark_prune.sql_guard import _check_words, _without_comments, check_read_only
from tests.run_fixture import write_run

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

# a "/*" inside a string literal is not a comment: the INSERT between the quotes must be seen
HIDDEN_INSERT = (
    "WITH a AS (SELECT '/*' AS s) INSERT INTO decisions SELECT * FROM decisions WHERE '*/' = '*/'"
)
# writes that lexers of our own missed: nested comments (Spark nests them), a quote in a hint
# (a hint is code), a raw string r'\' (no escapes), a "/*" inside a string, a lone "\r"
# ending a comment, a hint's end followed by "*"
HIDDEN_FROM_CONNECT = [
    HIDDEN_INSERT,
    "WITH a AS (SELECT 1) /* /* */ ' */ INSERT INTO t SELECT * FROM a -- '",
    "WITH a AS (SELECT /*+ FOO('*/ ') */ 1 AS x) INSERT INTO t SELECT * FROM a -- '",
    "WITH a AS (SELECT r'\\' AS x) INSERT INTO t SELECT * FROM a WHERE 'q' = ''",
    "WITH a AS (SELECT 1 AS x) -- c\rINSERT INTO t SELECT * FROM a",
    "WITH a AS (SELECT /*+ REPARTITION(1) */* FROM range(1)) INSERT INTO t SELECT * FROM a",
]
REFUSED = [
    ("DELETE FROM decisions WHERE kept", "DELETE statements are refused"),
    ("update decisions SET kept = false", "UPDATE statements are refused"),
    ("-- compact\nOPTIMIZE decisions", "OPTIMIZE statements are refused"),
    ("/* a; */ DROP TABLE decisions", "DROP statements are refused"),
    (
        "WITH a AS (SELECT * FROM decisions) INSERT INTO decisions SELECT * FROM a",
        "the statement runs INSERT, not a query",
    ),
    ("SELECT 1; DROP TABLE decisions", "the query does not parse"),
    (HIDDEN_INSERT, "the statement runs INSERT, not a query"),
    ("SELEC reason FROM decisions", "the query starts with 'SELEC', not a query"),
    ("ANALYZE TABLE decisions COMPUTE STATISTICS", "the query starts with 'ANALYZE', not a"),
    ("  -- nothing\n ; ", "the query is empty"),
]
ALLOWED = [
    "SELECT reason, count(*) FROM decisions GROUP BY reason",
    "with a as (select 1 as x) select x from a;",
    "(SELECT 1) UNION (SELECT 2)",
    "VALUES (1, 'delete')",
    "SELECT 'DROP TABLE decisions' AS text -- UPDATE in a comment",
    "SELECT '/*' AS a, '--' AS b, \"*/\" AS c /* a 'quote */",
    "SHOW TABLES",
    "DESCRIBE decisions",
    "EXPLAIN SELECT 1",
]


@pytest.mark.parametrize(("query", "message"), REFUSED)
def test_writing_statements_are_refused(spark: SparkSession, query: str, message: str) -> None:
    with pytest.raises(ReadOnlyQueryError, match=f"^{message}"):
        check_read_only(spark, query)
    assert ReadOnlyQueryError.exit_code == EXIT_USAGE


@pytest.mark.parametrize("query", ALLOWED)
def test_queries_pass(spark: SparkSession, query: str) -> None:
    check_read_only(spark, query)  # raises if refused


def test_spark_connect_refuses_write_words_anywhere() -> None:
    """Without Spark's parser the check reads raw words: a lexer of our own missed writes
    hidden by nested comments, hints, raw strings and lone carriage returns."""
    with pytest.raises(ReadOnlyQueryError, match=r"^the statement contains INSERT: "):
        _check_words("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a")
    with pytest.raises(ReadOnlyQueryError, match=r"^the statement contains MERGE: "):
        _check_words("SELECT 1 FROM t; merge/**/into t using s on true")
    for hidden in HIDDEN_FROM_CONNECT:
        with pytest.raises(ReadOnlyQueryError, match=r"^the statement contains INSERT: "):
            _check_words(hidden)
    with pytest.raises(ReadOnlyQueryError, match=r"^the statement contains DROP: "):
        _check_words("SELECT 'drop' AS word")  # conservative: quoted words count too
    _check_words("SELECT col1set, update_at, `x` FROM t WHERE s = 'it''s'")  # not keywords
    assert _without_comments("/* a */ SELECT '--' -- b") == "  SELECT '--'  "
    assert _without_comments("-- note\rSELECT /*+ HINT */* FROM t").strip().startswith("SELECT")


def test_sql_refusal_leaves_the_table_unchanged(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_path = write_run(spark, tmp_path, semdedup=False, images=False).path
    before = spark.read.format("delta").load(f"{run_path}/decisions").count()
    capsys.readouterr()
    assert main(["sql", "--run", run_path, "DELETE FROM decisions WHERE kept"]) == EXIT_USAGE
    assert capsys.readouterr().err.strip().splitlines() == [
        "spark-prune: error: DELETE statements are refused: spark-prune sql runs read-only "
        "queries (SELECT, WITH, VALUES, TABLE, FROM, SHOW, DESCRIBE, EXPLAIN)"
    ]
    assert main(["sql", "--run", run_path, "UPDATE decisions SET kept = false"]) == EXIT_USAGE
    history = spark.sql(f"DESCRIBE HISTORY delta.`{run_path}/decisions`").count()
    assert spark.read.format("delta").load(f"{run_path}/decisions").count() == before
    assert history == 1
    assert main(["sql", "--run", run_path, "SELECT count(*) AS n FROM decisions"]) == 0
    assert f"|{before}|" in capsys.readouterr().out.replace(" ", "")
