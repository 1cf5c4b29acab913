#!/usr/bin/env bash
# Download the wheels bench/gpu_check.sh needs on the GPU machine (Python 3.12, x86-64, no network there) into
# .whl/ (git-ignored; name it in the device run's carry). Run here, on a machine with the package registries.
#   bash bench/gpu_wheels.sh            # then: du -sh .whl  (must stay under the 64 MiB carry limit)
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any \
    -d .whl -r bench/gpu_requirements.txt
# groundex itself travels as the working tree; a wheel of it makes the install there one pip command
python3 -m pip wheel --quiet --no-deps --no-build-isolation -w .whl . 2>/dev/null || python3 -m pip wheel --quiet --no-deps -w .whl .
count=$(ls .whl/*.whl | wc -l)
echo "wheels: $count in .whl/, $(du -sh .whl | cut -f1) in all"
