"""Reference encodings and scores of a bundle, from the Python `tokenizers` library and ONNX Runtime.

The Node side must agree with them (test/text-teacher.test.ts): same token ids after truncation to
max_length, same scores. Writes JSON to stdout:
  {"texts": [...], "labels": [...], "pairs": [...] | null, "ids": [[...]], "type_ids": [[...]], "outputs": [[...]]}
  "labels": the label paired with each row (cross-encoder); bi-encoder: "label_outputs", their texts' embeddings

  python examples/teachers/reference_scores.py test/fixtures/text-teachers/classifier \
      test/fixtures/text-mini/test.jsonl > test/fixtures/text-teachers/reference-classifier.json
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

bundle, data = Path(sys.argv[1]), Path(sys.argv[2])
manifest = json.loads((bundle / "teacher.json").read_text())
tok = Tokenizer.from_file(str(bundle / "tokenizer.json"))
rows = [json.loads(l) for l in data.read_text(encoding="utf-8").splitlines() if l.strip()][:6]
texts = [r["text"] for r in rows]
labels = [manifest["labels"][(7 * i) % len(manifest["labels"])] for i in range(len(rows))]  # row i's label
label_texts = [l.replace("::", " ").replace("-", " ").replace("_", " ") for l in labels]
pairs = label_texts if manifest["kind"] == "cross-encoder" else None
tok.enable_truncation(max_length=manifest["max_length"], strategy="longest_first")
enc = [tok.encode(t, p) for t, p in zip(texts, pairs or [None] * len(texts))]
sess = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])


def run(e):  # one at a time: no padding, so nothing depends on how a batch is padded
    feeds = {"input_ids": [e.ids], "attention_mask": [e.attention_mask], "token_type_ids": [e.type_ids]}
    out = sess.run([manifest["output"]], {k: np.array(v, dtype=np.int64) for k, v in feeds.items() if k in manifest["inputs"]})[0]
    return [float(x) for x in out.reshape(-1)]


result = {"texts": texts, "labels": labels, "pairs": pairs, "ids": [e.ids for e in enc], "type_ids": [e.type_ids for e in enc], "outputs": [run(e) for e in enc]}
if manifest["kind"] == "bi-encoder":  # the first label's text, embedded at label_max_length
    tok.enable_truncation(max_length=manifest.get("label_max_length", manifest["max_length"]), strategy="longest_first")
    result["label_outputs"] = [run(tok.encode(t)) for t in label_texts]
json.dump(result, sys.stdout)
