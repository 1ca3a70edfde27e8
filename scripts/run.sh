#!/usr/bin/env bash
# make run JOURNEY=<dag id> [DATE=YYYY-MM-DD] [CONF='{...}']: one journey through Airflow
# (`airflow dags test`) on the demo home with its SMTP and SMS sinks, then its report.
# DATE is the run's logical date: a daily journey's run of 2026-11-03 processes
# [2026-11-02, 2026-11-03). Without DATE the run is "now" (e.g. an on-demand request).
# The core systems are seeded once (`make demo` or `missiva seed` reseeds them).
set -euo pipefail
usage="usage: make run JOURNEY=<dag id> [DATE=YYYY-MM-DD] [CONF='{\"param\": ...}']"
journey=${JOURNEY:?$usage}
conf=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
demo_home
echo "== contact policy: $MISSIVA_CONTACT_POLICY"
# Airflow 3.3.2's `dags test` cannot finish a run that carries a deadline alert (README)
export MISSIVA_DEADLINE_ALERTS=${MISSIVA_DEADLINE_ALERTS:-off}
args=()
if [ -n "$conf" ]; then args=(-c "$conf"); fi
run_journey "$journey" "${DATE:-}" "${args[@]}"
echo "e-mails in $MISSIVA_HOME/mail/new: $(find "$MISSIVA_HOME/mail/new" -type f 2>/dev/null | wc -l)"
echo "SMS in $MISSIVA_HOME/sms: $(find "$MISSIVA_HOME/sms" -name '*.json' 2>/dev/null | wc -l)"
