#!/bin/bash
# Issue 14 figures (RELIABILITY.md, "Resource limits"): `distilxr serve` + `distilxr worker` on
# PostgreSQL (a fresh schema), the abusive requests of the issue, then a job at the dataset's bounds and a
# default job; prints the peak RSS (VmHWM) of both processes. Needs PostgreSQL and Redis on 127.0.0.1.
set -u
cd "$(dirname "$0")/.."
S=limits_measure_$RANDOM
export DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test?schema=$S" REDIS_PREFIX="lm-$RANDOM" DATA_DIR=$(mktemp -d /tmp/limits-measure-XXXX) PORT=18$((RANDOM%900+100)) WORKER_LOCK_MS=5000
node bin/distilxr.js serve > $DATA_DIR/serve.log 2>&1 & API=$!
sleep 1
node bin/distilxr.js worker > $DATA_DIR/worker.log 2>&1 & WK=$!
U=http://127.0.0.1:$PORT
for i in $(seq 60); do curl -sf $U/readyz >/dev/null && grep -q ready $DATA_DIR/worker.log && break; sleep 1; done
hwm() { grep VmHWM /proc/$1/status | awk '{printf "%d MiB", $2/1024}'; }
rss() { grep VmRSS /proc/$1/status | awk '{printf "%d MiB", $2/1024}'; }
echo "ready: api $(rss $API) (peak $(hwm $API)), worker $(rss $WK) (peak $(hwm $WK))"
DS=$(curl -s -F train=@../shared/datasets/bibtex/bibtex_mulan_train.txt $U/v1/datasets | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
printf '1 67108864 4\n0,1,2,3 0:1 1:1 2:1 3:1 4:1\n' > $DATA_DIR/evil.txt; wc -c < $DATA_DIR/evil.txt
post() { curl -s -o /tmp/limits-out.json -w '%{http_code}' -H 'content-type: application/json' -d "$2" $U$1; echo " $(python3 -c 'import json; print(json.load(open("/tmp/limits-out.json")).get("message", ""))' | cut -c1-200)"; }
echo "upload 2^26: $(curl -s -o /tmp/limits-out.json -w '%{http_code}' -F train=@$DATA_DIR/evil.txt $U/v1/datasets) $(cut -c1-200 /tmp/limits-out.json)"
post /v1/jobs "{\"datasetId\":\"$DS\",\"params\":{\"epochs\":1,\"poolSize\":100000,\"hardNegatives\":100000,\"randomNegatives\":100000,\"inBatchNegatives\":100000,\"batchSize\":1000000}}"
post /v1/jobs "{\"datasetId\":\"$DS\",\"params\":{\"epochs\":100000,\"dim\":4096}}"
post /v1/teachers/fit "{\"datasetId\":\"$DS\",\"params\":{\"hidden\":65536,\"maxEpochs\":100000}}"
post /v1/jobs "{\"datasetId\":\"$DS\",\"params\":{\"epochs\":1,\"poolSize\":159,\"hardNegatives\":159,\"randomNegatives\":159,\"inBatchNegatives\":159,\"dim\":2048}}"
sleep 3
echo "after the refusals: api $(rss $API) (peak $(hwm $API)), worker $(rss $WK) (peak $(hwm $WK)); jobs: $(curl -s $U/v1/jobs | python3 -c 'import json,sys; print([j["status"] for j in json.load(sys.stdin)["jobs"]])')"
JOB=$(curl -s -H 'content-type: application/json' -d "{\"datasetId\":\"$DS\"}" $U/v1/jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for i in $(seq 120); do st=$(curl -s $U/v1/jobs/$JOB | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'); [ "$st" = completed -o "$st" = failed ] && break; sleep 1; done
echo "default job: $st; api peak $(hwm $API), worker $(rss $WK) (peak $(hwm $WK))"
kill $API $WK; wait
psql -h 127.0.0.1 -U postgres -d test -qc "DROP SCHEMA \"$S\" CASCADE" >/dev/null 2>&1
redis-cli --scan --pattern "$REDIS_PREFIX:*" | xargs -r redis-cli del > /dev/null
rm -rf $DATA_DIR
