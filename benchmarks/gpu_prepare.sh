# Sourced by the GPU session scripts: checks DATA, ANNOTATIONS and OUT, records the machine in
# $OUT/gpu.txt, and leaves in $R (a new temporary folder) the imported labels and the twin augmented
# at the full profile's side (1333 px, 10 passes, 16 workers): $R/labels, $R/aug.
set -o pipefail
: "${DATA:?set DATA to a dataset folder in the Kaggle layout}" "${ANNOTATIONS:?set ANNOTATIONS to its annotation export}" "${OUT:?set OUT to a results folder}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
R=$(mktemp -d)
python3 -m chocolib import-annotations --source "$ANNOTATIONS" --images "$DATA/train" --out "$R/labels" 2>&1 | tail -1
python3 -m chocolib augment --images "$DATA/train" --labels "$R/labels" --out "$R/aug" --work-side 1333 --passes 10 --workers 16 2>&1 | tail -1
