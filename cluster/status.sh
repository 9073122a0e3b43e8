#!/usr/bin/env bash
# sctp-e2e cluster status: each component, running or not, its PID and log.
# Exit 0 when every component runs, 1 otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
all=0
printf '%-24s %-8s %-8s %s\n' COMPONENT STATE PID LOG
for name in "${COMPONENTS[@]}"; do
  if pid=$(pid_of "$name"); then state=running; else state=stopped pid=- all=1; fi
  printf '%-24s %-8s %-8s %s\n' "$name" "$state" "$pid" "$LOG_DIR/$name.log"
done
if [[ -f $STATE_DIR/shape ]]; then echo "shape: $(tr '\n' ' ' <"$STATE_DIR/shape")"; fi
if [[ -f $STATE_DIR/env ]]; then echo "env: $STATE_DIR/env"; fi
exit $all
