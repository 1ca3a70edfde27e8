#!/usr/bin/env bash
# make airflow: the Airflow UI, scheduler, dag-processor and triggerer on the demo home.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
mkdir -p "$MISSIVA_HOME"
migrate_airflow
[ -e "$MISSIVA_HOME/core.db" ] || missiva seed
start_smtp_sink "${SMTP_PORT:-8025}"
start_sms_sink "${SMS_PORT:-8026}"
cat <<INFO
== Airflow on http://localhost:8080
   log in as: admin
   password:  written by Airflow to $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE
              (cat it once the server has started; it is also printed below)
   stop with Ctrl-C
INFO
airflow standalone
