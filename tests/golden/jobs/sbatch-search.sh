#!/bin/bash
#SBATCH --job-name=pentamer-7
#SBATCH --partition=debug
#SBATCH --account=chem
#SBATCH --qos=normal
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=1
#SBATCH --mem=2048M
#SBATCH --time=30
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
exec /srv/design/.venv/bin/python -m jobs.worker /srv/design/var/runs/20261204-203000-search-ab12cd --batch -- /srv/design/.venv/bin/python -m engine search --start pentamer --frame 0 --target-size 7 --branching 2 --max-results 10 --max-expansions 2000 --max-seconds 120.0 --out /srv/design/var/runs/20261204-203000-search-ab12cd/artifacts/pathways.json
