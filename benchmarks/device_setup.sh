#!/usr/bin/env bash
# On the GPU machine: install the wheels copied in .whl/ (diffusers, decord, av) and print the versions; then run
# with PYTHONPATH=/tmp/site:$PWD (the export below holds only inside this script).
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
export PYTHONUNBUFFERED=1
python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())"
