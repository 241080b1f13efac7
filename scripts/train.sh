#!/usr/bin/env bash
# Train the Rasa model only when its inputs changed (content hash), keep it in models/,
# and point models/current.tar.gz at it.
set -euo pipefail
cd "$(dirname "$0")/.."
RASA=${RASA:-.venv-bot/bin/rasa}
inputs=$(find bot/config.yml bot/domain bot/data bot/nlu_components.py bot/nlu_data.py data/nlu data/answers scripts/build_spacy_sv.py requirements/bot.txt -type f | LC_ALL=C sort)
hash=$(cat $inputs | sha256sum | cut -c1-16)
name="kommunchatt-$hash"
mkdir -p models
if [ -f "models/$name.tar.gz" ]; then
  ln -sfn "$name.tar.gz" models/current.tar.gz
  echo "model is up to date: models/$name.tar.gz"
  exit 0
fi
echo "training the Rasa model (inputs changed) ..."
log=models/train.log
if ! "$RASA" train --config bot/config.yml --domain bot/domain --data data/nlu data/answers bot/data \
      --out models --fixed-model-name "$name" >"$log" 2>&1; then
  tail -n 25 "$log" >&2
  echo "error: training the Rasa model failed (full log in $log); fix the training data, domain or config and run again." >&2
  exit 1
fi
ln -sfn "$name.tar.gz" models/current.tar.gz
ls -1t models/kommunchatt-*.tar.gz | tail -n +4 | xargs -r rm -f   # keep the three newest
echo "model trained: models/$name.tar.gz"
