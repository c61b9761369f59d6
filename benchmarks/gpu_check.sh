#!/usr/bin/env bash
# The GPU path, checked and timed on one GPU in under 5 minutes (issue 9):
#   1. no host synchronisation inside a training step (GAN_UNLEARN_CHECK_SYNC=1 turns any sync
#      inside a step into an error), with R1 and path-length steps and 2 adapted models;
#   2. benchmarks/speed.py on the GPU, fp32 and bf16, paper and bundled configs;
#   3. the bundled default in fp32 and in bf16 (seed 0): PUL, judge PUL, FID ratio, time.
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (needs `pip install .` done; writes OUT_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/gpu-check}"
mkdir -p "$OUT"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt" || true

echo "== 1. no host sync inside a step"
start=$(date +%s)
GAN_UNLEARN_CHECK_SYNC=1 gan-unlearn run --device cuda --adapt-iters 20 --unlearn-iters 33 \
    --adapted-models 2 --candidates 500 --eval-samples 200 --quiet --overwrite --out "$OUT/sync-check"
echo "sync check passed in $(( $(date +%s) - start )) s"

echo "== 2. speed table"
python benchmarks/speed.py --device cuda --configs paper,bundled --precisions fp32,bf16 --channels-last --steps 5 \
    --json "$OUT/speed.json" | tee "$OUT/speed.md"

echo "== 3. bundled default, fp32 vs bf16 (seed 0)"
for precision in fp32 bf16; do
    python benchmarks/quality.py --methods adapt-then-unlearn --repulsions exp --seeds 0 \
        --set precision=$precision --set device=cuda --out "$OUT/quality-$precision" \
        | tee "$OUT/quality-$precision.md"
done
echo "gpu_check.sh finished; results in $OUT"
