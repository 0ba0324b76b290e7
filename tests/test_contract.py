"""The output contract (contract.py): names unique, the stages declare exactly the contract's
decision columns and reasons, in the registry's (the reason precedence's) order."""

from __future__ import annotations

from pyspark.sql import types as T

from spark_prune import contract
from spark_prune.decisions import decision_fields
from spark_prune.stages import REGISTRY


def test_names_are_unique() -> None:
    for names in (
        contract.TABLES,
        contract.REASONS,
        contract.DECISION_STAGE_COLUMNS + contract.DECISION_OUTCOME_COLUMNS,
        contract.CLUSTER_COLUMNS,
    ):
        assert len(set(names)) == len(names), names
    assert contract.EMBEDDINGS not in contract.TABLES
    assert contract.MANIFEST_FILE.endswith(".json") and contract.REPORT_FILE.endswith(".html")


def test_stages_declare_the_contract_columns_in_order() -> None:
    declared = [c.name for stage in REGISTRY for c in stage.columns]
    assert len(set(declared)) == len(declared)  # no column claimed by two stages
    assert set(declared) == set(contract.DECISION_STAGE_COLUMNS)
    names = [f.name for f in decision_fields(REGISTRY, T.LongType())]
    assert tuple(names) == contract.DECISION_STAGE_COLUMNS
    assert not set(names) & set(contract.DECISION_OUTCOME_COLUMNS)


def test_reasons_follow_the_registry() -> None:
    reasons = [stage.reason for stage in REGISTRY if stage.reason is not None]
    assert tuple(reasons) == contract.REASONS  # invalid first: the precedence of the run


def test_clusters_schema() -> None:
    schema = contract.CLUSTERS_SCHEMA
    assert contract.CLUSTER_COLUMNS[0] == contract.CLUSTER_ID
    assert schema[contract.CLUSTER_ID].dataType == T.IntegerType()
    assert schema["centroid"].dataType == T.ArrayType(T.FloatType(), False)
    assert schema[contract.KEPT].dataType == T.LongType()  # rows kept per cluster
    nullable = [f.name for f in schema.fields if f.nullable]
    assert nullable == ["quota_continuous"]
    dbp = next(stage for stage in REGISTRY if stage.reason == contract.DBP)
    assert dict(dbp.tables) == {contract.CLUSTERS: schema}


def test_semdedup_clusters_schema() -> None:
    schema = contract.SEMDEDUP_CLUSTERS_SCHEMA
    assert schema.fieldNames() == [contract.CLUSTER_ID, contract.CENTROID, "size"]
    assert schema[contract.CENTROID].dataType == contract.CLUSTERS_SCHEMA["centroid"].dataType
    assert contract.SEMDEDUP_CLUSTERS in contract.TABLES
