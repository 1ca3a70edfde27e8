#!/usr/bin/env bash
# make airflow: the Airflow UI, scheduler, dag-processor and triggerer on the demo home.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
demo_home
airflow_banner
airflow standalone
