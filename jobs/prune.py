"""spark-submit entry point for the whole pipeline.

    spark-submit jobs/prune.py --config conf/laion.yaml --set output.path=s3://bucket/runs/r1

On Databricks/EMR the platform's session (and its Delta) is reused; locally the Delta jars are
added. All logic lives in the ``spark_prune`` package.
"""

import sys

from spark_prune.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
