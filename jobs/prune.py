"""spark-submit entry point for the whole pipeline.

    spark-submit jobs/prune.py --config conf/laion.yaml --set output.path=s3://bucket/runs/r1

On Databricks/EMR the platform's session (and its Delta) is reused. Elsewhere pass Delta as
spark-submit's own option (a session spark-submit starts gets no jars from us):

    spark-submit --packages io.delta:delta-spark_2.13:4.0.1 jobs/prune.py --config ...

(``python -m spark_prune run`` / ``spark-prune run`` add the jars themselves). All logic lives
in the ``spark_prune`` package.
"""

import sys

from spark_prune.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
