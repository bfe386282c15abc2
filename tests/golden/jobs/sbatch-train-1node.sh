#!/bin/bash
#SBATCH --job-name=train-surrogate-ab12cd
#SBATCH --partition=debug
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=4
#SBATCH --gpus-per-node=1
#SBATCH --mem=16384M
#SBATCH --time=120
#SBATCH --chdir=/srv/design
#SBATCH --output=/srv/design/var/runs/20261204-203000-train-surrogate-ab12cd/job.log
#SBATCH --open-mode=append

# Job 20261204-203000-train-surrogate-ab12cd (train-surrogate), rendered from its validated spec.
set -uo pipefail

module load python/3.11
module load gcc/12
source /srv/design/.venv/bin/activate
export DESIGN_LOG_LEVEL=INFO
export OMP_PROC_BIND=close
ulimit -c 0
cd /srv/design
exec /srv/design/.venv/bin/python -m jobs.worker /srv/design/var/runs/20261204-203000-train-surrogate-ab12cd --batch -- /srv/design/.venv/bin/python -m engine train --data {checkout}/tests/golden/jobs/train-data.xyz --out /srv/design/var/runs/20261204-203000-train-surrogate-ab12cd/artifacts/model --config {checkout}/tests/golden/jobs/tiny-config.yaml
