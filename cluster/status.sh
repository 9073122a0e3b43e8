#!/usr/bin/env bash
# sctp-e2e cluster status: every component of every node, running or not,
# its PID and log. Exit 0 when every component runs, 1 otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
all=0
printf '%-16s %-24s %-8s %-8s %s\n' NODE COMPONENT STATE PID LOG
for ((i = 1; i <= $(node_count); i++)); do
  use_node "$i"
  for name in $(node_components "$i"); do
    if pid=$(pid_of "$name"); then state=running; else state=stopped pid=- all=1; fi
    printf '%-16s %-24s %-8s %-8s %s\n' "$NODE_NAME" "$name" "$state" "$pid" "$LOG_DIR/$name.log"
  done
done
if [[ -f $SHAPE_FILE ]]; then echo "shape: $(tr '\n' ' ' <"$SHAPE_FILE")"; fi
if [[ -f $STATE_DIR/env ]]; then echo "env: $STATE_DIR/env"; fi
exit $all
