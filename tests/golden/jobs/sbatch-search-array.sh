#!/bin/bash
#SBATCH --job-name=search-ab12cd
#SBATCH --partition=debug
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --mem=1536M
#SBATCH --time=15
#SBATCH --array=0-2%2
#SBATCH --chdir=/srv/design
#SBATCH --output=/srv/design/var/runs/20261204-203000-search-ab12cd/job.log
#SBATCH --open-mode=append

# Job 20261204-203000-search-ab12cd (search), rendered from its validated spec.
set -uo pipefail

module load python/3.11
module load gcc/12
source /srv/design/.venv/bin/activate
export DESIGN_LOG_LEVEL=INFO
export OMP_PROC_BIND=close
ulimit -c 0
cd /srv/design
exec /srv/design/.venv/bin/python -m jobs.worker /srv/design/var/runs/20261204-203000-search-ab12cd --batch --array-task "$SLURM_ARRAY_TASK_ID"
