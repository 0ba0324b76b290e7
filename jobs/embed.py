"""spark-submit entry point for the embed stage alone (e.g. a GPU job step before the prune step).

    spark-submit jobs/embed.py --config conf/laion.yaml \
        --set embed.checkpoint=/Volumes/models/clip.pt

Embeds the input's ids not yet in ``embed.cache_path`` (default ``<output>/embeddings``) and
prints what it did as JSON. All logic lives in the ``spark_prune`` package.
"""

import sys

from spark_prune.cli import main

if __name__ == "__main__":
    sys.exit(main(["embed", *sys.argv[1:]]))
