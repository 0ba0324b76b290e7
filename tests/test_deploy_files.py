"""Deployment files stay in step with the code: configs load, tasks call real commands and keys.

Checks the Databricks bundle (databricks.yml, resources/*.yml), the EMR step and EMR
Serverless requests (deploy/emr/*.json), the build script and the example configs, without any
cloud access: every command line in them is parsed with the real CLI parser and every config
they name is loaded, with their ``--set`` overrides, by ``spark_prune.config_loader.load_config``.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from spark_prune.cli import build_parser
from spark_prune.config_loader import load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
CODE_PREFIX = "s3://my-bucket/spark_prune/code/"
SAMPLE_VARIABLES = {"workspace.file_path": str(ROOT)}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _json(name: str) -> Any:
    return json.loads((ROOT / "deploy" / "emr" / name).read_text())


def _bundle_variables() -> dict[str, str]:
    variables = _yaml(ROOT / "databricks.yml")["variables"]
    values = {f"var.{name}": str(spec["default"]) for name, spec in variables.items()}
    return {**values, **SAMPLE_VARIABLES}


def _substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return values[match.group(1)]  # KeyError: the file uses an undefined variable

    return re.sub(r"\$\{([^}]+)\}", one, text)


def _check_command(argv: list[str]) -> None:
    """argv parses with the real CLI; a config it names loads with its overrides."""
    args = build_parser().parse_args(argv)
    if getattr(args, "config", None):
        load_config(args.config, args.overrides)


def _tasks() -> list[dict[str, Any]]:
    jobs = _yaml(ROOT / "resources" / "spark_prune.job.yml")["resources"]["jobs"]
    return [task for job in jobs.values() for task in job["tasks"]]


@pytest.mark.parametrize(
    "path",
    sorted([ROOT / "databricks.yml", *ROOT.glob("resources/*.yml"), *ROOT.glob("conf/*.yaml")]),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_yaml_parses(path: Path) -> None:
    assert isinstance(_yaml(path), dict)


@pytest.mark.parametrize("name", ["step.json", "serverless-job.json", "serverless-app.json"])
def test_json_parses(name: str) -> None:
    assert isinstance(_json(name), dict)


@pytest.mark.parametrize(
    "path", sorted(ROOT.glob("conf/*.yaml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_example_configs_load(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.input.path and (cfg.output.path or cfg.output.catalog_schema)


def test_laion_and_datacomp_follow_the_paper() -> None:
    laion = load_config(ROOT / "conf" / "laion.yaml")
    assert (laion.dbp.kmeans.k, laion.dbp.tau, laion.dbp.num_neighbors) == (500, 0.1, 20)
    assert laion.semdedup.enabled and laion.semdedup.eps == 0.07
    assert laion.dbp.keep_fraction == 0.4
    datacomp = load_config(ROOT / "conf" / "datacomp.yaml")
    assert datacomp.semdedup.enabled and datacomp.dbp.kmeans.k == 100
    clip = datacomp.clip_filter
    assert clip.enabled and clip.score_column and clip.keep_fraction == 0.3
    assert (datacomp.input.format, datacomp.input.embedding_key) == ("datacomp", "l14_img")
    assert clip.score_column == "clip_l14_similarity_score" and datacomp.input.id_column == "uid"


def test_bundle_targets() -> None:
    bundle = _yaml(ROOT / "databricks.yml")
    targets = bundle["targets"]
    assert targets["dev"]["mode"] == "development"
    assert targets["prod"]["mode"] == "production"
    assert targets["dev"]["variables"]["pause_status"] == "PAUSED"
    assert {"catalog", "schema", "output"} <= set(bundle["variables"])
    assert "resources/*.yml" in bundle["include"]


def test_job_tasks_call_console_scripts() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    values = _bundle_variables()
    tasks = _tasks()
    assert [t["task_key"] for t in tasks] == ["embed", "prune", "report"]
    for task in tasks:
        wheel = task["python_wheel_task"]
        assert wheel["entry_point"] in scripts, wheel["entry_point"]
        assert re.sub(r"[-_.]+", "-", wheel["package_name"]) == project
        argv = [_substitute(str(p), values) for p in wheel["parameters"]]
        _check_command(argv)


def test_job_graph_and_clusters() -> None:
    job = _yaml(ROOT / "resources" / "spark_prune.job.yml")["resources"]["jobs"]["spark_prune"]
    clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
    keys = set()
    for task in job["tasks"]:
        assert task["job_cluster_key"] in clusters
        for dep in task.get("depends_on", []):
            assert dep["task_key"] in keys, "a task depends on a later or unknown task"
        keys.add(task["task_key"])
    embed = next(t for t in job["tasks"] if t["task_key"] == "embed")
    gpu = clusters[embed["job_cluster_key"]]
    assert "gpu" in gpu["spark_version"]
    assert float(gpu["spark_conf"]["spark.task.resource.gpu.amount"]) > 0
    assert job["trigger"]["pause_status"] == "${var.pause_status}"
    prune = next(t for t in job["tasks"] if t["task_key"] == "prune")
    params = prune["python_wheel_task"]["parameters"]
    assert "tracking.mlflow=true" in params and "tracking.experiment=${var.experiment}" in params
    # the weekly workflow needs no redeploy: the first run is full, later ones incremental
    assert "incremental.from_output=${var.incremental}" in params
    args = build_parser().parse_args([_substitute(str(p), _bundle_variables()) for p in params])
    assert load_config(args.config, args.overrides).incremental.from_output
    assert "-ml-" in clusters[prune["job_cluster_key"]]["spark_version"]  # MLflow preinstalled
    assert "periodic" in job["trigger"]


def _repo_file(reference: str) -> Path | None:
    """The repo file an artifact reference stands for, or None when it names no repo file."""
    if reference.startswith(CODE_PREFIX):
        return ROOT / reference.removeprefix(CODE_PREFIX)
    if reference.startswith("./conf/"):
        return ROOT / "conf" / reference.removeprefix("./conf/")
    return None


def _check_submit(script: str, arguments: list[str], submit_conf: str) -> None:
    path = _repo_file(script)
    assert path is not None and path.is_file(), script
    assert path == ROOT / "jobs" / "prune.py"
    for arg in arguments:
        ref = _repo_file(arg)
        assert ref is None or ref.is_file(), arg
    local = [str(_repo_file(a) or a) for a in arguments]
    _check_command(["run", *local])  # jobs/prune.py runs `spark-prune run <args>`
    assert "#environment" in submit_conf and "#conf" in submit_conf
    assert "/usr/share/aws/delta/lib/delta-spark.jar" in submit_conf
    assert "io.delta.sql.DeltaSparkSessionExtension" in submit_conf


def test_emr_step_runs_the_repo_job() -> None:
    (step,) = _json("step.json")["Steps"]
    args = step["HadoopJarStep"]["Args"]
    assert args[0] == "spark-submit"
    script_at = next(i for i, a in enumerate(args) if a.endswith(".py"))
    submit_conf = " ".join(args[:script_at])
    _check_submit(args[script_at], args[script_at + 1 :], submit_conf)
    assert "spark.yarn.appMasterEnv.PYSPARK_PYTHON=./environment/bin/python" in submit_conf
    assert "spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python" in submit_conf


def test_emr_serverless_request() -> None:
    driver = _json("serverless-job.json")["jobDriver"]["sparkSubmit"]
    params = driver["sparkSubmitParameters"]
    _check_submit(driver["entryPoint"], driver["entryPointArguments"], params)
    confs = dict(
        item.split("=", 1)
        for flag, item in zip(*[iter(shlex.split(params))] * 2, strict=True)
        if flag == "--conf"
    )
    assert confs["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert confs["spark.emr-serverless.executorEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert "spark.jars.packages" not in confs  # not supported on EMR Serverless
    assert _json("serverless-app.json")["releaseLabel"] == "emr-spark-8.0.0"


@pytest.mark.parametrize("script", ["deploy/emr/build_env.sh", "scripts/screenshot_report.sh"])
def test_shell_scripts_parse(script: str) -> None:
    path = ROOT / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)
