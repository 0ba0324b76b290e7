#!/usr/bin/env bash
# Build the two artifacts an EMR (on EC2 or Serverless) run needs, into dist/:
#
#   spark_prune_env.tar.gz   a venv-pack'ed virtualenv with the spark_prune wheel and its
#                            dependencies (numpy, pandas, pyarrow, faiss-cpu, pyyaml), but NOT
#                            pyspark: the cluster brings Spark. Used as --archives ...#environment.
#   spark_prune_conf.tar.gz  the repo's conf/*.yaml, used as --archives ...#conf.
#
# The venv MUST be built for the cluster's OS, CPU architecture and Python minor version: its
# compiled wheels (numpy, faiss, pyarrow) are per platform, and venv-pack does not ship the
# interpreter, so ./environment/bin/python points at the same Python path on the nodes
# (/usr/bin/python3.11 on Amazon Linux 2023). Hence the build runs in a container of the EMR
# image (or plain Amazon Linux 2023), never on a laptop's Python.
#
#   deploy/emr/build_env.sh                                  # x86_64, Python 3.11
#   PLATFORM=linux/arm64 deploy/emr/build_env.sh             # Graviton instances
#   EXTRAS='[embed]' deploy/emr/build_env.sh                 # + torch/open_clip for `embed`
#   BASE_IMAGE=public.ecr.aws/emr-serverless/spark/emr-spark-8.0.0:latest deploy/emr/build_env.sh
#
# Then: aws s3 cp dist/spark_prune_env.tar.gz dist/spark_prune_conf.tar.gz \
#           s3://my-bucket/spark_prune/artifacts/
#       aws s3 cp jobs/prune.py s3://my-bucket/spark_prune/code/jobs/prune.py
# Needs docker with BuildKit (docker buildx) and a Python with pip on the host (wheel build).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$repo/dist}
platform=${PLATFORM:-linux/amd64}
python=${PYTHON:-python3.11}
base_image=${BASE_IMAGE:-public.ecr.aws/amazonlinux/amazonlinux:2023}
extras=${EXTRAS:-}
# The Python half of Delta (no pyspark: --no-deps); the jars come from EMR (Delta 4.0 on EMR 8).
delta_spark=${DELTA_SPARK:-4.0.0}

mkdir -p "$out"
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

# 1. The wheel, built from this checkout (pure Python, so the host is fine).
"${HOST_PYTHON:-python3}" -m pip wheel --no-deps --quiet --wheel-dir "$context" "$repo"
wheel=$(basename "$(ls "$context"/spark_prune-*.whl)")

# 2. The venv, built and packed inside the target image; only the tarball comes back.
cat > "$context/Dockerfile" <<EOF
FROM --platform=$platform $base_image AS build
RUN (command -v dnf >/dev/null && dnf install -y $python $python-pip tar gzip && dnf clean all) \\
    || (command -v yum >/dev/null && yum install -y $python $python-pip tar gzip)
COPY $wheel /tmp/
RUN $python -m venv /opt/tools && /opt/tools/bin/pip install --quiet venv-pack==0.2.0 \\
 && $python -m venv /opt/spark_prune \\
 && /opt/spark_prune/bin/pip install --quiet --upgrade pip \\
 && /opt/spark_prune/bin/pip install --quiet "/tmp/$wheel$extras" \\
 && /opt/spark_prune/bin/pip install --quiet importlib-metadata \\
 && /opt/spark_prune/bin/pip install --quiet --no-deps "delta-spark==$delta_spark" \\
 && /opt/spark_prune/bin/python -c "import spark_prune, numpy, faiss, yaml" \\
 && /opt/tools/bin/venv-pack -p /opt/spark_prune -o /spark_prune_env.tar.gz
FROM scratch
COPY --from=build /spark_prune_env.tar.gz /
EOF
DOCKER_BUILDKIT=1 docker build --platform "$platform" --output "type=local,dest=$out" "$context"

# 3. The configs, as their own small archive (change them without rebuilding the venv).
tar -czf "$out/spark_prune_conf.tar.gz" -C "$repo/conf" .

ls -l "$out/spark_prune_env.tar.gz" "$out/spark_prune_conf.tar.gz"
