# vidrd-bench on a CUDA GPU box: weights, the compile cache and outputs are volumes, the entry point is the CLI.
# PyTorch's wheels carry their CUDA libraries; the host needs an NVIDIA driver for CUDA 13 (>= 580) and the
# NVIDIA container toolkit (`docker run --gpus all`). Build with the commit baked in, so every record names it:
#   docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) -t vidrd-bench .
# Run with --ipc=host (or --shm-size=8g): DataLoader decode workers pass clips through /dev/shm, and Docker's
# default 64 MB is too small. Add --user $(id -u):$(id -g) to own the files written to the output volume.
FROM python:3.11-slim

ARG GIT_COMMIT=""
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIDRD_BENCH_WEIGHTS=/weights \
    VIDRD_BENCH_GIT_COMMIT=${GIT_COMMIT} \
    XDG_CACHE_HOME=/cache \
    TORCHINDUCTOR_CACHE_DIR=/cache/inductor \
    MPLCONFIGDIR=/cache/matplotlib \
    HOME=/home/vidrd

WORKDIR /opt/vidrd-bench
COPY pyproject.toml README.md ./
COPY vidrd_bench ./vidrd_bench
COPY prompts ./prompts
COPY reference_stats ./reference_stats
RUN pip install --no-cache-dir . && vidrd-bench --help > /dev/null \
    && mkdir -p /weights /out /cache /home/vidrd && chmod 1777 /out /cache /home/vidrd

# any --user can write the outputs and the caches; /cache keeps torch.compile's ~2.5-minute first compile
VOLUME ["/weights", "/out", "/cache"]
WORKDIR /out
ENTRYPOINT ["vidrd-bench"]
CMD ["--help"]
