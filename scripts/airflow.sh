#!/usr/bin/env bash
# make airflow: the Airflow UI, scheduler, dag-processor and triggerer on the demo home.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
mkdir -p "$MISSIVA_HOME"
migrate_airflow
[ -e "$MISSIVA_HOME/core.db" ] || missiva seed
start_sinks
airflow_banner
airflow standalone
