"""The output contract: table names, removal reasons, column names and schemas.

Users' SQL, the report, the notebook and the tests rely on these names; every other module
imports them from here instead of spelling them (docs/design.md, "Output contract").
"""

from __future__ import annotations

from pyspark.sql import types as T

# ---------------------------------------------------------------- tables and files
PRUNED = "pruned"
DECISIONS = "decisions"
CLUSTERS = "clusters"
SEMDEDUP_CLUSTERS = "semdedup_clusters"  # SemDeDup's k centroids, so later runs can freeze them
TABLES = (PRUNED, DECISIONS, CLUSTERS, SEMDEDUP_CLUSTERS)
EMBEDDINGS = "embeddings"  # the default embeddings cache table under the output
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.html"

# ---------------------------------------------------------------- reasons
INVALID = "invalid"
SEMDEDUP = "semdedup"
CLIP_SCORE_REASON = "clip_score"
DBP = "dbp"
REASONS = (INVALID, SEMDEDUP, CLIP_SCORE_REASON, DBP)

# ---------------------------------------------------------------- decisions columns
CLUSTER_ID = "cluster_id"
DIST = "dist"
RANK_IN_CLUSTER = "rank_in_cluster"
SEMDEDUP_CLUSTER_ID = "semdedup_cluster_id"
SEMDEDUP_DIST = "semdedup_dist"
SEMDEDUP_MAX_SIM = "semdedup_max_sim"
SEMDEDUP_PARTNER = "semdedup_partner"
CLIP_SCORE = "clip_score"
KEPT = "kept"
REASON = "reason"
DETAIL = "detail"
EMBED_ERROR = "embed_error"  # the embed stage's per-row failure, recorded as the detail

# Stage columns in the order the decisions table shows them (after the id); columns of stages
# not listed here follow them, in registry order.
DECISION_STAGE_COLUMNS = (
    CLUSTER_ID,
    DIST,
    RANK_IN_CLUSTER,
    SEMDEDUP_CLUSTER_ID,
    SEMDEDUP_DIST,
    SEMDEDUP_MAX_SIM,
    SEMDEDUP_PARTNER,
    CLIP_SCORE,
)
DECISION_OUTCOME_COLUMNS = (KEPT, REASON, DETAIL)

# ---------------------------------------------------------------- clusters table
CLUSTERS_SCHEMA = T.StructType(
    [
        T.StructField(CLUSTER_ID, T.IntegerType(), False),
        T.StructField("centroid", T.ArrayType(T.FloatType(), False), False),
        T.StructField("size", T.LongType(), False),
        T.StructField("d_intra", T.DoubleType(), False),
        T.StructField("d_inter", T.DoubleType(), False),
        T.StructField("complexity", T.DoubleType(), False),
        T.StructField("p", T.DoubleType(), False),
        T.StructField("quota_continuous", T.DoubleType(), True),
        T.StructField("lower_bound", T.LongType(), False),
        T.StructField("quota", T.LongType(), False),
        T.StructField(KEPT, T.LongType(), False),
        T.StructField("capped", T.BooleanType(), False),
        T.StructField("at_lower_bound", T.BooleanType(), False),
    ]
)
CLUSTER_COLUMNS = tuple(CLUSTERS_SCHEMA.fieldNames())

# ---------------------------------------------------------------- semdedup_clusters table
CENTROID = "centroid"
SEMDEDUP_CLUSTERS_SCHEMA = T.StructType(
    [
        T.StructField(CLUSTER_ID, T.IntegerType(), False),
        T.StructField(CENTROID, T.ArrayType(T.FloatType(), False), False),
        T.StructField("size", T.LongType(), False),
    ]
)
