# vidrd-bench on a CUDA GPU box: weights and outputs are volumes, the entry point is the CLI.
# PyTorch's wheels carry their CUDA libraries; the host needs an NVIDIA driver for CUDA 13 (>= 580) and
# the NVIDIA container toolkit (`docker run --gpus all`).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIDRD_BENCH_WEIGHTS=/weights

WORKDIR /opt/vidrd-bench
COPY pyproject.toml README.md ./
COPY vidrd_bench ./vidrd_bench
COPY prompts ./prompts
COPY reference_stats ./reference_stats
RUN pip install --no-cache-dir . && vidrd-bench --help > /dev/null

VOLUME ["/weights", "/out"]
WORKDIR /out
ENTRYPOINT ["vidrd-bench"]
CMD ["--help"]
