#!/usr/bin/env bash
# Table I's adaptive cells through the diffusion defenses on a lent GPU machine (benchmarks/README.md).
#
# That machine has Python 3.12 with its own torch, h5py and seaborn, but no diffusers, Snakemake,
# decord or mmaction2, and no package registry. So, in the directory of the workflow's run (the
# repository root for `make run`):
#
#   bash benchmarks/gpu_table1.sh pack [CONFIG...]   # here, after `make run` (default config/config.yaml):
#       # wheels of the missing packages into .whl/; the config files, frames, evaluation sets,
#       # recognizers, diffusion models and flow weights the CPU run used into .gpu/ (both
#       # git-ignored; 64 MiB together at most)
#   bash benchmarks/gpu_table1.sh run [ARGS...]      # there, with .whl and .gpu carried:
#       # benchmarks/gpu_table1.py on .gpu/, JSON to $OUT/gpu_table1.json (or benchmarks/out/)
#
# ARGS go to benchmarks/gpu_table1.py (default: --clips-per-class 1 --budget-seconds 270).
# Config overrides given to Snakemake with --config are not carried: put them in a config file.
# PYTHON: the interpreter (default: .venv/bin/python where it exists, else python3).
# GPU_TABLE1_WHEELS=0 packs no wheels (a machine that has the packages, such as the test suite's).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON="$PWD/.venv/bin/python"; else PYTHON=python3; fi
fi
LIMIT_MIB=64

# Pinned as in requirements*.txt, with what they need that the lent GPU machine's image lacks or
# may hold in another version (setuptools < 81 keeps pkg_resources, which mmengine needs).
WHEELS=(
  diffusers==0.42.1 importlib_metadata==10.2.0
  mmaction2==1.2.0 mmengine==0.10.7 mmcv-lite==2.1.0 addict==2.4.0 yapf==0.43.0 termcolor==3.3.0
  platformdirs==4.14.9 setuptools==80.10.2
  rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 pygments==2.21.0
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 attrs==26.1.0
)

pack() {
  local configs=("$@") config path size
  [ ${#configs[@]} -gt 0 ] || configs=(config/config.yaml)
  rm -rf .gpu && mkdir -p .gpu/configs
  cp -rL config .gpu/config  # the recognizers' mmaction2 configs, by their configured paths
  : > .gpu/configfiles
  for config in "${configs[@]}"; do
    cp -L "$config" ".gpu/configs/$(basename "$config")"
    echo "configs/$(basename "$config")" >> .gpu/configfiles
  done
  # What the CPU run made and the script reads, by the package's own paths.
  PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "${configs[@]}" <<'EOF' |
import sys
from videopure.config import load_config
from videopure.paths import classifier_checkpoint, diffusion_model_path, evalset_file, frames_file
config = load_config(*sys.argv[1:])
for dataset, spec in config["datasets"].items():
    print(frames_file(dataset, spec["eval_split"]))
    print(evalset_file(dataset))
    print(diffusion_model_path(config, dataset))
    for model in spec["classifiers"]:
        print(classifier_checkpoint(config, dataset, model))
for spec in config["defenses"].values():
    flow = spec.get("flow")
    if isinstance(flow, dict) and flow.get("weights"):
        print(flow["weights"])
EOF
  while IFS= read -r path; do
    mkdir -p ".gpu/$(dirname "$path")"
    cp -rL "$path" ".gpu/$path"
  done
  rm -rf .whl && mkdir -p .whl
  if [ "${GPU_TABLE1_WHEELS:-1}" != 0 ]; then
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .whl "${WHEELS[@]}"
  fi
  size=$(du -sm .gpu .whl | awk '{s += $1} END {print s}')
  if [ "$size" -gt "$LIMIT_MIB" ]; then
    echo "gpu_table1.sh: .gpu and .whl take ${size} MiB, over the ${LIMIT_MIB} MiB a device call carries" >&2
    exit 1
  fi
  echo "packed ${size} MiB: carry .gpu and .whl; there run: bash benchmarks/gpu_table1.sh run"
}

run() {
  local configs args out
  [ -f .gpu/configfiles ] || { echo "gpu_table1.sh: no .gpu/; run 'bash benchmarks/gpu_table1.sh pack' first" >&2; exit 1; }
  if compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
  out="${OUT:-$PWD/benchmarks/out}/gpu_table1.json"
  args=("$@")
  [ ${#args[@]} -gt 0 ] || args=(--clips-per-class 1 --budget-seconds 270)
  mapfile -t configs < .gpu/configfiles
  (cd .gpu && "$PYTHON" "$REPO/benchmarks/gpu_table1.py" --configfile "${configs[@]}" --out "$out" "${args[@]}")
}

case "${1:-}" in
  pack) shift; pack "$@" ;;
  run) shift; run "$@" ;;
  *) echo "usage: bash benchmarks/gpu_table1.sh pack [CONFIG...] | run [ARGS...]" >&2; exit 2 ;;
esac
