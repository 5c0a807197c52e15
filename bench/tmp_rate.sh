set -euo pipefail
cd /work/main
source bench/common.sh
ECHO=19300 PASS=19301 PORT=19302
rs256_gateway "$PORT" "$ECHO"
start echo 0 $bin/examples/echo "127.0.0.1:$ECHO" 1 512
start passthrough 1 $bin/examples/passthrough "127.0.0.1:$PASS" "127.0.0.1:$ECHO" 1
start portcullis 1 $bin/portcullis serve -c "$work/portcullis.toml"
for p in $ECHO $PASS $PORT; do wait_port $p; done
for rate in ${RATES:-5000 10000 15000}; do
for i in 1 2; do
taskset -c 0 $bin/examples/loadgen run --url http://127.0.0.1:$PASS/RS256 --connections 32 --rate $rate --duration 5s $rs256_tokens --tokens 1000 --quiet --label "pass $rate"
taskset -c 0 $bin/examples/loadgen run --url http://127.0.0.1:$PORT/RS256 --connections 32 --rate $rate --duration 5s $rs256_tokens --tokens 1000 --quiet --label "portc $rate"
done; done
