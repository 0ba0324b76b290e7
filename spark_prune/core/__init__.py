"""The numeric core: numpy and pyarrow only, importable without pyspark.

``quotas`` (DBP's quota solver), ``vectors`` (Arrow/numpy codecs), ``ordering`` (processing
orders), ``assign`` (nearest centroid), ``semdedup_kernel`` (the exact tile kernel) and
``semdedup_cost`` (its cost estimate).
"""
