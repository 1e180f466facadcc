#!/usr/bin/env bash
# Run a mediaextract job with spark-submit.
#   ./spark-submit.sh [SPARK-SUBMIT OPTIONS] JOB [JOB ARGS]
# Options before JOB go to spark-submit (--master, --deploy-mode, --conf k=v, ...); the default
# master is local[*]. Everything after JOB goes to the job. On YARN (--master yarn) the package is
# shipped as a zip, the Python environment as a packed venv (--archives), the JDBC jar with --jars
# and the settings file with --files; see README "Running on YARN".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
JOBS="plan extract status snapshot purge expire reconcile export report check-access scheduled"

venv="${MEDIAEXTRACT_VENV:-$here/.venv}"
# --help and --version answer before anything else (no JVM, no settings).
case "${1:-}" in
  -h|--help|help|--version|version)
    [ -x "$venv/bin/python" ] || { echo "mediaextract: error: no $venv: run make install" >&2; exit 2; }
    what=help; case "$1" in *version) what=version ;; esac
    PYTHONPATH="$here/lib${PYTHONPATH:+:$PYTHONPATH}" exec "$venv/bin/python" -m mediaextract.usage "$what" "$here/jobs" ;;
esac

spark_opts=()
job=""
while [ $# -gt 0 ]; do
  case " $JOBS " in *" $1 "*) job="$1"; shift; break ;; esac
  spark_opts+=("$1"); shift
done
if [ -z "$job" ]; then
  echo "mediaextract: error: no job named (jobs: $JOBS); see ./spark-submit.sh --help" >&2
  exit 2
fi
job_args=("$@")
script="$here/jobs/${job//-/_}.py"
[ -f "$script" ] || { echo "mediaextract: error: job $job is not built yet" >&2; exit 2; }

[ -x "$venv/bin/python" ] || { echo "mediaextract: error: no $venv: run make install" >&2; exit 2; }
SPARK_SUBMIT="${SPARK_SUBMIT:-$venv/bin/spark-submit}"
jar="${MEDIAEXTRACT_JDBC_JAR:-/usr/share/java/mariadb-java-client.jar}"

master="local[*]"
deploy_mode="client"
driver_java_options=""
for ((i = 0; i < ${#spark_opts[@]}; i++)); do
  case "${spark_opts[$i]}" in
    --master) master="${spark_opts[$((i + 1))]:-}" ;;
    --master=*) master="${spark_opts[$i]#--master=}" ;;
    --deploy-mode) deploy_mode="${spark_opts[$((i + 1))]:-}" ;;
    --deploy-mode=*) deploy_mode="${spark_opts[$i]#--deploy-mode=}" ;;
    --driver-java-options) driver_java_options="${spark_opts[$((i + 1))]:-}" ;;
    --driver-java-options=*) driver_java_options="${spark_opts[$i]#--driver-java-options=}" ;;
    --conf|-c|--conf=*)
      setting="${spark_opts[$i]#--conf=}"
      [ "$setting" != "${spark_opts[$i]}" ] || setting="${spark_opts[$((i + 1))]:-}"
      case "$setting" in spark.submit.deployMode=*) deploy_mode="${setting#*=}" ;; esac
      # Ours (below) would replace it: spark-submit keeps one --driver-java-options, the last.
      case "$setting" in spark.driver.extraJavaOptions=*) driver_java_options="${setting#*=}" ;; esac ;;
  esac
done
if [ -z "$master" ] || { [ "$deploy_mode" != "client" ] && [ "$deploy_mode" != "cluster" ]; }; then
  echo "mediaextract: error: --master needs a value and --deploy-mode is client or cluster (master '$master', deploy mode '$deploy_mode')" >&2
  exit 2
fi
has_master=0
for o in "${spark_opts[@]+"${spark_opts[@]}"}"; do case "$o" in --master|--master=*) has_master=1 ;; esac; done
[ $has_master -eq 1 ] || spark_opts=(--master "$master" "${spark_opts[@]+"${spark_opts[@]}"}")

# Refused in one line now, before any JVM (submit_check.py): speculation asked for on the command
# line or in the properties file spark-submit reads (a speculative copy of a fetch task would fetch
# its objects a second time, past every cap; the session forces it off anyway, session.py), and a
# cluster that asks for Kerberos without a ticket or --principal/--keytab (minutes of Spark's retries).
PYTHONPATH="$here/lib" "$venv/bin/python" -m mediaextract.submit_check "${spark_opts[@]+"${spark_opts[@]}"}" || exit $?

extra=(--conf spark.ui.showConsoleProgress=false
       --driver-java-options "${driver_java_options:+$driver_java_options }-Dlog4j2.configurationFile=file:$here/conf/log4j2.properties")
[ -f "$jar" ] && extra+=(--jars "$jar")

case "$master" in
  local-cluster*) cluster=1 ;;
  local*) cluster=0 ;;
  *) cluster=1 ;;
esac
case "$cluster" in
  0)
    export PYSPARK_PYTHON="$venv/bin/python" PYSPARK_DRIVER_PYTHON="$venv/bin/python"
    # A local run talks to nothing but this machine.
    export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
    export PYTHONPATH="$here/lib:$here${PYTHONPATH:+:$PYTHONPATH}"
    ;;
  1)
    # Cluster (YARN, or local-cluster[...] which runs executors the same way): ship the package, the environment and the settings file (built by make dist).
    dist="$here/dist"
    # MEDIAEXTRACT_ENVIRONMENT_URI names a copy of dist/environment.tar.gz already on the cluster's
    # file system (hdfs:///...): it is not uploaded, and each NodeManager unpacks it once and reuses
    # it for later applications while the file and its modification time stay the same.
    environment="$dist/environment.tar.gz"
    if [ -n "${MEDIAEXTRACT_ENVIRONMENT_URI:-}" ]; then
      # Spark splits --archives on commas and reads a name with a space as a local path.
      case "${MEDIAEXTRACT_ENVIRONMENT_URI,,}" in
        file:*|local:*|*"#"*|*,*|*[[:space:]]*|[!a-z]*) bad_uri=1 ;;
        *://*) bad_uri=0 ;;
        *) bad_uri=1 ;;
      esac
      if [ $bad_uri -eq 1 ]; then
        echo "mediaextract: error: MEDIAEXTRACT_ENVIRONMENT_URI must name a file on the cluster's default file system (hdfs:///...), without #, comma or space" >&2
        exit 2
      fi
      environment="$MEDIAEXTRACT_ENVIRONMENT_URI"
    fi
    built="$("$here/scripts/dist.sh" 2>&1)" || {
      echo "mediaextract: error: could not build dist/ for the cluster (scripts/dist.sh): ${built##*$'\n'}" >&2; exit 2; }
    extra+=(--py-files "$dist/mediaextract.zip"
            --archives "$environment#environment"
            --conf spark.pyspark.python=./environment/bin/python)
    if [ "$deploy_mode" = "client" ]; then
      export PYSPARK_DRIVER_PYTHON="$venv/bin/python"
      extra+=(--conf "spark.pyspark.driver.python=$venv/bin/python")
      export PYTHONPATH="$here/lib:$here${PYTHONPATH:+:$PYTHONPATH}"
      case "$master" in local-cluster*) export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}" ;; esac
    else
      extra+=(--conf spark.yarn.appMasterEnv.PYSPARK_PYTHON=./environment/bin/python)
      # pip's spark-submit finds SPARK_HOME with $PYSPARK_DRIVER_PYTHON, else whatever python3 is on
      # PATH (which may lack pyspark); exporting that variable would reach the AM, so name it here.
      if [ -z "${SPARK_HOME:-}" ] && [ "$SPARK_SUBMIT" = "$venv/bin/spark-submit" ]; then
        SPARK_HOME="$("$venv/bin/python" "$venv/bin/find_spark_home.py" 2>/dev/null)" || {
          echo "mediaextract: error: pyspark not found by $venv/bin/python: run make install" >&2; exit 2; }
        export SPARK_HOME
      fi
    fi
    client_args=("${job_args[@]+"${job_args[@]}"}")  # as the client names its files (preflight)
    # A --conf FILE given to the job is shipped beside it; the job then finds it by base name.
    for ((i = 0; i < ${#job_args[@]}; i++)); do
      if [ "${job_args[$i]}" = "--conf" ] && [ $((i + 1)) -lt ${#job_args[@]} ]; then
        extra+=(--files "${job_args[$((i + 1))]}")
        [ "$deploy_mode" = "cluster" ] && job_args[$((i + 1))]="$(basename "${job_args[$((i + 1))]}")"
      fi
    done
    ;;
esac

command=("$SPARK_SUBMIT" "${spark_opts[@]}" "${extra[@]}" "$script" "${job_args[@]+"${job_args[@]}"}")

# The console gets our lines only: the job's output on stdout, one line on stderr when it fails.
# Spark's and the JVM's own output (log4j, Java stack traces, Python workers' stderr, warnings)
# goes to a log file of the run, 0600 in a 0700 directory, whose path the failure line gives;
# --verbose keeps all of it on the console instead.
verbose=0
for a in "${job_args[@]+"${job_args[@]}"}"; do [ "$a" = "--verbose" ] && verbose=1; done

# In cluster mode the driver runs in a YARN container, where a refusal would only fail the
# application: the job's settings, and a secrets file on HDFS, are checked here first
# (preflight.py: its one line on stdout; the JVM's output in the run's log, or on the console
# with --verbose).
preflight() {
  [ "$cluster" -eq 1 ] && [ "$deploy_mode" = "cluster" ] || return 0
  local checked rc i option login=()
  # Its JVM (a local one) reads HDFS as the run will: with the keytab's login and the Hadoop
  # settings given to spark-submit, passed on through pyspark's PYSPARK_SUBMIT_ARGS.
  for ((i = 0; i < ${#spark_opts[@]}; i++)); do
    option="${spark_opts[$i]}"
    case "$option" in
      --principal|--keytab|--properties-file) login+=("$option" "${spark_opts[$((i + 1))]:-}") ;;
      --principal=*|--keytab=*|--properties-file=*) login+=("$option") ;;
      --conf|-c|--conf=*)
        local setting="${option#--conf=}"
        [ "$setting" != "$option" ] || setting="${spark_opts[$((i + 1))]:-}"
        case "$setting" in spark.hadoop.*|spark.kerberos.*|spark.yarn.principal=*|spark.yarn.keytab=*)
          login+=(--conf "$setting") ;; esac ;;
    esac
  done
  set +e
  checked="$(PYSPARK_SUBMIT_ARGS="${login[*]+$(printf '%q ' "${login[@]}")}pyspark-shell" \
    PYTHONPATH="$here/lib" "$venv/bin/python" -m mediaextract.preflight \
    "${client_args[@]+"${client_args[@]}"}" 2>>"$1" </dev/null)"
  rc=$?
  set -e
  [ $rc -eq 0 ] && return 0
  checked="${checked##*$'\n'}"
  echo "${checked:-mediaextract: error: the settings could not be checked before submitting (see $2)}" >&2
  exit $rc
}
if [ $verbose -eq 1 ]; then
  preflight /dev/stderr "the output above"
  exec "${command[@]}"
fi

log_dir="${MEDIAEXTRACT_LOG_DIR:-$here/logs}"
umask 077
if ! mkdir -p "$log_dir" 2>/dev/null || [ ! -w "$log_dir" ]; then
  log_dir="${XDG_STATE_HOME:-$HOME/.local/state}/mediaextract/logs"
  mkdir -p "$log_dir"
fi
chmod 700 "$log_dir"
# A run's log is kept MEDIAEXTRACT_LOG_KEEP_DAYS days (14 by default), then deleted by a later run.
find "$log_dir" -maxdepth 1 -name '*.log' -mtime +"${MEDIAEXTRACT_LOG_KEEP_DAYS:-14}" -delete 2>/dev/null || true
log="$log_dir/$job-$(date -u +%Y%m%dT%H%M%SZ)-$$.log"
: >"$log"
preflight "$log" "$log"

# spark-submit merges a Python driver's stdout and stderr into its own stdout, so they cannot be
# told apart once they have passed through it: the driver writes its lines to two named pipes
# instead (console.py), relayed here to this script's own stdout and stderr, in order.
pipes="$(mktemp -d "${TMPDIR:-/tmp}/mediaextract-console.XXXXXX")"
mkfifo "$pipes/out" "$pipes/err"
cat "$pipes/out" & out_relay=$!
cat "$pipes/err" >&2 & err_relay=$!
# Held open until the job ends, so that a relay sees its end even if the driver never opens it.
exec 5>"$pipes/out" 6>"$pipes/err"
export MEDIAEXTRACT_CONSOLE_OUT="$pipes/out" MEDIAEXTRACT_CONSOLE_ERR="$pipes/err" MEDIAEXTRACT_RUN_LOG="$log"

# Ctrl-C reaches every process of the foreground group (JVM, driver, workers) and each may print
# its own traces: they go to the log, and this script alone says what happened, once. A signal
# sent to this script only (kill -INT/-TERM PID) is passed on to the job's processes. The job
# runs in the background so that the trap runs at once (a foreground command would defer it);
# `trap - INT` gives it back the Ctrl-C that bash takes from background commands.
descendants() { local p; for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$p"; descendants "$p"; done; }
stopped_by=""
pass_on() { stopped_by="$1"; kill -s "$1" "$child" $(descendants "$child") 2>/dev/null || true; }
( exec 5>&- 6>&-; trap - INT QUIT; exec "${command[@]}" ) >>"$log" 2>&1 </dev/null &
child=$!
trap 'pass_on INT' INT
trap 'pass_on TERM' TERM
while :; do
  set +e; wait "$child"; rc=$?; set -e
  kill -0 "$child" 2>/dev/null || break
done
exec 5>&- 6>&-
wait "$out_relay" "$err_relay" 2>/dev/null || true
rm -rf "$pipes"
[ $rc -ne 130 ] || stopped_by="${stopped_by:-INT}"
if [ -n "$stopped_by" ]; then  # the line and the exit code (130, 143) from errors.py
  set +e
  PYTHONPATH="$here/lib" "$venv/bin/python" -m mediaextract.usage stopped "$stopped_by" "$log"
  exit $?
fi
# The driver notes in the log every failure it has already reported on the console (cli.py);
# anything else ended before it could say why (a wrong Spark option, the JVM or the driver killed).
if [ $rc -ne 0 ] && ! grep -q '^mediaextract: reported exit ' "$log"; then
  echo "mediaextract: error: spark-submit ended with exit code $rc before the job could say why; see $log" >&2
fi
exit $rc
