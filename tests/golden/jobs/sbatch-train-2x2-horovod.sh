#!/bin/bash
#SBATCH --job-name=train-surrogate-ab12cd
#SBATCH --partition=gpu
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=2
#SBATCH --time=90
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
MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
export MASTER_ADDR
export MASTER_PORT=$((29500 + SLURM_JOB_ID % 1000))
exec /srv/design/.venv/bin/python -m jobs.worker /srv/design/var/runs/20261204-203000-train-surrogate-ab12cd --batch -- srun --kill-on-bad-exit=1 --nodes=2 --ntasks=4 --ntasks-per-node=2 --cpus-per-task=2 /srv/design/.venv/bin/python -m engine train --data {checkout}/tests/golden/jobs/train-data.xyz --out /srv/design/var/runs/20261204-203000-train-surrogate-ab12cd/artifacts/model --config {checkout}/tests/golden/jobs/tiny-config.yaml --distributed --backend horovod
