#!/usr/bin/env bash
# The GPU checks and benchmarks, as one prepared run on a lent GPU machine.
#
# Usage (from the repository root, on the GPU machine; the wheels of pyro-ppl, pyro-api, arviz,
# xarray-einstats, h5netcdf, astropy, pyerfa, astropy-iers-data, array-api-compat and platformdirs
# for its Python carried in .whl/):
#     bash benchmarks/gpu_checks.sh quick|full OUTDIR
# quick: a two-minute smoke run of every GPU path; full: the benchmarks whose JSON is committed.
set -u
mode=${1:-quick}
out=${2:-benchmarks/results}
mkdir -p "$out"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, numpyro, torch; print('jax', jax.__version__, jax.devices(), 'numpyro', numpyro.__version__, 'torch', torch.__version__, torch.cuda.is_available())"
step() { echo "=== $(date +%T) $*"; }
if [ "$mode" = quick ]; then
  step "torch on CUDA: every model type, render + log-density gradient"
  timeout 120 python3 benchmarks/device_smoke.py --device cuda 2>&1 | tail -20
  step "sampling 64² (jax, cuda)"
  timeout 240 python3 benchmarks/sampling.py --device cuda --size 64 --no-psf --warmup 200 --draws 200 \
    --only bayesphot handwritten-numpyro --stamps 10 --stamp-warmup 100 --stamp-draws 100 \
    --out "$out/sampling_gpu_quick.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -25
  exit 0
fi
step "render benchmark, both backends"
timeout 150 python3 benchmarks/render.py --device cuda --sizes 256 1024 2048 --out "$out/render_gpu.json" 2>&1 | tail -20
step "sampling 64² issue case (LM + NUTS 500 + 500 vs hand-written)"
timeout 150 python3 benchmarks/sampling.py --device cuda --size 64 --no-psf --warmup 500 --draws 500 \
  --only bayesphot handwritten-numpyro --out "$out/sampling_gpu_64.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -12
for size in 256 1024 2048; do
  step "sampling ${size}² with PSF"
  timeout 120 python3 benchmarks/sampling.py --device cuda --size $size --warmup 150 --draws 300 --only bayesphot \
    --out "$out/sampling_gpu_${size}.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -6
done
step "stamps: objects per hour"
timeout 200 python3 benchmarks/sampling.py --device cuda --only none --stamps 1 100 1000 \
  --out "$out/sampling_gpu_stamps.json" 2>&1 | grep -v -i "warn\|arviz\|refactor\|migration" | tail -10
