# pairsearch worker / dashboard / report image.
#
#   docker build -t pairsearch .                      # CPU-only torch (default, small)
#   docker build -t pairsearch \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 .   # CUDA build
#   docker build -t pairsearch --build-arg BASE_IMAGE=pairsearch-base:local .  # no Docker Hub
#   docker build -t pairsearch --build-arg PAIRSEARCH_GIT_COMMIT=$(git rev-parse --short HEAD) .
#
# Every container runs one pairsearch command: `docker run --rm pairsearch tune --help`.

# The base: any image with Python 3.11+, `pip` first on PATH and useradd. Where Docker Hub is out
# of reach, docker/make-base-image.sh makes pairsearch-base:local from Debian's packages
# (docker-compose.local.yml uses it).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# Where pip gets torch and torchvision. The default CPU index avoids ~2 GB of CUDA libraries;
# set it to a CUDA index such as https://download.pytorch.org/whl/cu124 for a CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# What to install from it: the newest by default; pin with e.g. "torch==2.14.1 torchvision==0.29.1".
ARG TORCH_PACKAGES="torch torchvision"
# pip's own settings, unset unless given: a mirror (PIP_INDEX_URL), or a folder or URL of wheels
# (PIP_FIND_LINKS) to use alone (PIP_NO_INDEX=1), as tests/test_compose.py builds offline.
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, in its own layer: it is by far the largest and changes least often.
RUN pip install --index-url "${TORCH_INDEX_URL}" ${TORCH_PACKAGES}

WORKDIR /app
# Then the dependencies, read from pyproject.toml alone, so that a change to the code reuses this
# layer. The grpc extra lets this image also run `pairsearch storage-proxy`.
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["grpc"]))' > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt
# The commit the image is built from, recorded with every job and tuning worker it runs: the build
# context leaves .git out, so pairsearch.version reads it from here (unset: "not recorded").
ARG PAIRSEARCH_GIT_COMMIT
ENV PAIRSEARCH_GIT_COMMIT=${PAIRSEARCH_GIT_COMMIT}
COPY README.md ./
COPY pairsearch ./pairsearch
COPY studies ./studies
COPY recipes ./recipes
# Editable, because the package finds studies/*.toml and recipes/*.toml next to itself
# (/app/studies, /app/recipes), not in site-packages.
RUN pip install --no-deps --editable .

# Run as an unprivileged user; storage/ (data cache, reports, SQLite) must be writable by it.
RUN useradd --create-home --uid 1000 pairsearch \
    && mkdir -p /app/storage/data /app/storage/reports \
    && chown -R pairsearch:pairsearch /app/storage
USER pairsearch

VOLUME /app/storage
ENTRYPOINT ["pairsearch"]
CMD ["--help"]
