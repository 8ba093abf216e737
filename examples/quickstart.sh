#!/usr/bin/env bash
# Set up, ingest Cranfield into the embedded Qdrant Edge store, and run a few searches.
# Run from the repository root: bash examples/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${SPLADE_QDRANT_MODEL:-../shared/models/splade-tiny}   # the naver pair needs the Hugging Face Hub
DATA=${DATA:-../shared/datasets/cranfield}
STORE=${SPLADE_QDRANT_STORE:-./splade_qdrant_data}
[ -x .venv/bin/splade-qdrant ] || { python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 && .venv/bin/pip install -q -e .; }
SQ=.venv/bin/splade-qdrant
$SQ ingest "$DATA/corpus.jsonl" --collection cran --model "$MODEL" --doc-max-length 256 --query-max-length 64 --store "$STORE"
$SQ info --collection cran --store "$STORE"
for q in "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft ." \
         "how does a propeller slipstream change the lift of a wing" ; do
  echo; echo "query: $q"
  $SQ search "$q" --collection cran --store "$STORE" --limit 5 --explain
done
