"""Demo-only code, off the production path: nothing outside ``spark_prune.demo`` imports it.

``python -m spark_prune.demo`` (``make demo``) runs the demo (``__main__``); ``clipart`` builds its
sample lakehouse from Debian's openclipart PNGs; ``offline_model`` assembles the open_clip model
it embeds with from two real pretrained towers (no hub access needed); ``synthetic`` writes
clustered embedding tables for the benchmarks and tests.
"""
