# pairsearch worker / dashboard / report image.
#
#   docker build -t pairsearch .                      # CPU-only torch (default, small)
#   docker build -t pairsearch \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 .   # CUDA build
#
# Every container runs one pairsearch command: `docker run --rm pairsearch tune --help`.
FROM python:3.11-slim

# Where pip gets torch and torchvision. The default CPU index avoids ~2 GB of CUDA libraries;
# set it to a CUDA index such as https://download.pytorch.org/whl/cu124 for a CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, in its own layer: it is by far the largest and changes least often.
RUN pip install --index-url "${TORCH_INDEX_URL}" torch torchvision

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pairsearch ./pairsearch
COPY studies ./studies
COPY recipes ./recipes
# Editable, because the package finds studies/*.toml and recipes/*.toml next to itself
# (/app/studies, /app/recipes), not in site-packages. The grpc extra lets this image also run `pairsearch storage-proxy`.
RUN pip install --editable ".[grpc]"

# Run as an unprivileged user; storage/ (data cache, reports, SQLite) must be writable by it.
RUN useradd --create-home --uid 1000 pairsearch \
    && mkdir -p /app/storage/data /app/storage/reports \
    && chown -R pairsearch:pairsearch /app/storage
USER pairsearch

VOLUME /app/storage
ENTRYPOINT ["pairsearch"]
CMD ["--help"]
