#!/usr/bin/env bash
# A requester's whole workflow from the shell, against `piecework serve` on 127.0.0.1:8080.
set -euo pipefail
export PIECEWORK_URL=http://127.0.0.1:8080
OP=${PIECEWORK_OPERATOR_TOKEN:-op-secret}
TAG=$(date +%s)
REQ=$(piecework actor "acme-$TAG" requester --token "$OP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
WRK=$(piecework actor "ana-$TAG" worker --qualification fr --token "$OP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export PIECEWORK_TOKEN=$REQ

piecework deposit 50.00 EUR --units                       # 50 EUR into escrow-able funds
piecework events --follow > events.jsonl &                # the feed, live, as JSON lines
FOLLOW=$!
for i in $(seq 1 20); do                                   # 20 translation tasks, 0.30 EUR each
  echo "{\"kind\":\"translation\",\"reward\":300000,\"currency\":\"EUR\",\"estimated_seconds\":120,\"qualifications\":[\"fr\"],\"payload\":{\"text\":\"phrase $i\"}}"
done > tasks.jsonl
piecework post tasks.jsonl --batch-id b1            # batch b1-0 (the file is posted 1,000 tasks per batch)

# A worker does them (the worker side, here through the synchronous Python client).
python3 - "$WRK" <<'PY'
import sys
from broker.client_sync import SyncClient
with SyncClient("http://127.0.0.1:8080", sys.argv[1]) as ana:
    done = 0
    while done < 20:
        claim = ana.claim_next()
        if claim:
            ana.submit(claim["claim_id"], {"text": f"translated {done}"})
            done += 1
PY

sleep 2
piecework batch b1-0                                         # progress: 20 submitted
{ echo "submission_id,decision,reason"
  piecework results b1-0 | python3 -c '
import json, sys
for n, line in enumerate(sys.stdin):
    row = json.loads(line)
    print(row["submission_id"] + ("," + "reject,too literal" if n % 5 == 0 else ",approve,"))'
} > decisions.csv
piecework review decisions.csv                             # 16 approved, 4 rejected, one request
sleep 2
piecework results b1-0 --csv -o results.csv                  # the export, with statuses
kill $FOLLOW; wait $FOLLOW || true                   # (Ctrl-C when run by hand: it prints the cursor to resume from)
echo "results.csv rows: $(($(wc -l < results.csv) - 1))"
echo "events followed: $(wc -l < events.jsonl)"
python3 -c '
import collections, json
print(dict(collections.Counter(json.loads(l)["type"] for l in open("events.jsonl"))))'
piecework ledger
