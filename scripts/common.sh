# Shared by demo.sh, run.sh and airflow.sh (sourced): the embedded Airflow DB, the SMTP
# and SMS sinks, one journey run. The environment (ports included) comes from the Makefile.

migrate_airflow() {
  mkdir -p "$AIRFLOW_HOME"
  echo "== Airflow metadata DB (SQLite) in $AIRFLOW_HOME"
  if ! airflow db migrate > "$MISSIVA_HOME/airflow-migrate.log" 2>&1; then
    tail -n 30 "$MISSIVA_HOME/airflow-migrate.log" >&2
    echo "airflow db migrate failed; full log: $MISSIVA_HOME/airflow-migrate.log" >&2
    exit 1
  fi
}

SINK_PIDS=()
trap 'kill "${SINK_PIDS[@]}" 2>/dev/null || true' EXIT

_port_open() {
  python -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)))"
}

start_sink() {  # $1 = what, $2 = port, $3 = the variable naming the port, then the command
  local what=$1 port=$2 variable=$3
  shift 3
  if _port_open "$port"; then
    echo "port $port is already in use: stop what listens there or run with $variable=<free port>" >&2
    exit 1
  fi
  "$@" > "$MISSIVA_HOME/$what-sink.log" 2>&1 &
  SINK_PIDS+=($!)
  for _ in $(seq 50); do
    _port_open "$port" && break
    sleep 0.2
  done
}

start_sinks() {  # on $SMTP_PORT and $SMS_PORT; they stop with the calling script
  start_sink smtp "$SMTP_PORT" SMTP_PORT \
    missiva smtp-sink --port "$SMTP_PORT" --maildir "$MISSIVA_HOME/mail"
  echo "== SMTP sink on 127.0.0.1:$SMTP_PORT, mail stored in $MISSIVA_HOME/mail"
  start_sink sms "$SMS_PORT" SMS_PORT missiva sms-sink --port "$SMS_PORT" --out "$MISSIVA_HOME/sms"
  echo "== SMS provider sink on 127.0.0.1:$SMS_PORT, messages stored in $MISSIVA_HOME/sms"
}

demo_home() {  # Airflow's DB, the core systems (seeded once) and the sinks of the demo home
  mkdir -p "$MISSIVA_HOME"
  migrate_airflow
  [ -e "$MISSIVA_HOME/core.db" ] || missiva seed
  start_sinks
}

run_journey() {  # $1 = dag id, $2 = run date (may be empty), then `airflow dags test` arguments
  local dag=$1 date=$2 log="$MISSIVA_HOME/$1-${2:-now}.log"
  shift 2
  echo "== airflow dags test $dag $date $* (log: $log)"
  if ! airflow dags test "$dag" $date "$@" > "$log" 2>&1; then
    grep -E "ERROR|Failed|failed|Exception" "$log" | tail -n 20 >&2 || tail -n 40 "$log" >&2
    echo "the $dag run failed; full log: $log" >&2
    exit 1
  fi
  missiva report --dag-id "$dag"
  echo
}

airflow_banner() {
  cat <<INFO
== Airflow on http://localhost:$UI_PORT
   log in as: admin
   password:  written by Airflow to $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE
              (cat it once the server has started; it is also printed below)
   stop with Ctrl-C
INFO
}
