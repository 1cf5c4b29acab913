#!/usr/bin/env bash
# The flagship path on a real GPU stack, in one prepared run of under 10 minutes (issue 17).
#
# Where: a GPU machine without network (Python 3.12, torch + CUDA, torchvision, transformers, peft, accelerate,
# pytest installed). Prepare here first, on a machine with the package registries:
#   bash bench/gpu_wheels.sh        # groundex and its missing pure-Python needs as wheels in .whl/ (~20 MiB)
# then, on the GPU machine, from the repository root (the device tool: carry [".whl"]):
#   bash bench/gpu_check.sh LOG_DIR
# It writes LOG_DIR/gpu_check.log (everything) and LOG_DIR/junit.xml, and prints pass/fail counts and timings:
#   1. installs the carried wheels into /tmp/groundex-site (nothing outside it changes);
#   2. prints the stack (torch, CUDA, GPU, transformers, torchvision, peft, accelerate);
#   3. runs the tiny-model tests on CUDA (GROUNDEX_TEST_DEVICE=cuda): the transformers backend and the MLLM
#      tools, fine-tuning, SAM (SamPredictor, with torchvision there), CLIP and the detector, the AutoProcessor
#      path of Qwen-VL, and the two-process training split;
#   4. bench/gpu_stack_check.py: a short LoRA training of a tiny random Qwen2.5-VL with the GPU recipe's
#      settings (bf16, gradient checkpointing, min/max pixels) and a tiny SAM through SamPredictor with 8 boxes.
# What cannot travel: vLLM's CUDA build (several hundred MB against the 64 MiB that can be carried), so serving
# the gpu profile through `vllm serve` stays unverified by this check; so do real-size weights (none offline).
#
#   bash bench/gpu_check.sh LOG_DIR --dry-run   # here, on CPU: no install, the same steps on the CPU
set -uo pipefail
cd "$(dirname "$0")/.."

log_dir=${1:?usage: bash bench/gpu_check.sh LOG_DIR [--dry-run]}
dry_run=${2:-}
mkdir -p "$log_dir"
exec > >(tee "$log_dir/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1
started=$(date +%s)
stage() { echo; echo "== $1 ($(( $(date +%s) - started )) s)"; }

if [ "$dry_run" = "--dry-run" ]; then
    device=cpu
    echo "dry run: the current environment, on the CPU"
else
    device=cuda
    stage "install the carried wheels"
    ls .whl/*.whl >/dev/null 2>&1 || { echo "no .whl/: run bash bench/gpu_wheels.sh first and carry .whl"; exit 2; }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/groundex-site \
        .whl/*.whl || { echo "wheel install failed"; exit 2; }
    export PYTHONPATH=/tmp/groundex-site
fi

stage "stack"
python3 - <<'EOF'
import importlib.metadata as metadata, platform
import torch
print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"available {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"GPU {torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB, "
          f"bf16 {torch.cuda.is_bf16_supported()}")
for name in ("transformers", "torchvision", "peft", "accelerate", "langgraph", "langchain-core", "segment-anything",
             "groundex"):
    try:
        print(f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(f"{name} MISSING")
import groundex.agent
print("groundex imports from", groundex.agent.__file__)
EOF

stage "tiny-model tests on $device"
suite=(
    tests/integration/test_transformers_backend.py
    tests/integration/test_finetune.py
    tests/integration/test_finetune_processes.py
    tests/integration/test_sam_tool.py
    tests/integration/test_clip_and_detector_tools.py
    tests/unit/test_toolbox_capabilities.py
)
# -p no:cacheprovider: the checkout may be read-only there; -rs: say why anything skipped
GROUNDEX_TEST_DEVICE=$device timeout 420 python3 -m pytest -q -rs -p no:cacheprovider \
    --junitxml "$log_dir/junit.xml" "${suite[@]}"
suite_status=$?

stage "LoRA training of a tiny Qwen2.5-VL with the GPU recipe, and SAM with 8 boxes"
steps=20
[ "$dry_run" = "--dry-run" ] && steps=4
timeout 240 python3 bench/gpu_stack_check.py --steps "$steps"
stack_status=$?

stage "summary"
python3 - "$log_dir/junit.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("tests: no junit report (the run stopped before pytest finished)")
    raise SystemExit
suite = root if root.tag == "testsuite" else root.find("testsuite")
a = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
passed = a["tests"] - a["failures"] - a["errors"] - a["skipped"]
print(f"tests: {passed} passed, {a['failures']} failed, {a['errors']} errors, {a['skipped']} skipped "
      f"in {float(suite.get('time', 0)):.1f} s")
for case in suite.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        print(f"  FAILED {case.get('classname')}::{case.get('name')}")
EOF
grep -E "^check |^checks:" "$log_dir/gpu_check.log" | tail -3
echo "total $(( $(date +%s) - started )) s; log: $log_dir/gpu_check.log"
[ "$suite_status" -eq 0 ] && [ "$stack_status" -eq 0 ]
