"""Train a small BERT-style text teacher on a JSONL dataset and export it as a distilxr bundle.

A bundle is a folder with model.onnx, tokenizer.json (+ tokenizer_config.json) and teacher.json.
Made the way users make theirs: a WordPiece tokenizer trained with `tokenizers` on the training
text, a `transformers` model built from a config (no weights downloaded), trained with PyTorch and
exported with torch.onnx.export.

Kinds:
  classifier     BertForSequenceClassification, multi-label (BCE), logits [B, L] over named labels
  cross-encoder  (query text, label text) -> logits [B, 1]; positives against sampled negatives
  bi-encoder     mean-pooled, normalised embeddings [B, H]; in-batch softmax against label texts

Usage (2 shared cores: run under nice):
  nice python examples/teachers/train_text_teacher.py --kind classifier \
      --data ../shared/datasets/debtags --out /tmp/debtags-classifier --minutes 12
  nice python examples/teachers/train_text_teacher.py --kind classifier --preset tiny \
      --data test/fixtures/text-mini --out test/fixtures/text-teachers/classifier
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification, BertModel

BI_ENCODER_TAU = 0.05  # softmax temperature of the bi-encoder's cosine scores

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

PRESETS = {
    # well under 5 MB: a test fixture, not a useful teacher
    "tiny": dict(vocab=600, hidden=32, layers=1, heads=2, intermediate=64, max_length=32, epochs=10, lr=3e-3, batch=32),
    # for a busy machine: a quarter of small's work per example
    "fast": dict(vocab=6000, hidden=64, layers=2, heads=2, intermediate=128, max_length=64, epochs=3, lr=2e-3, batch=32),
    # trains in minutes on two idle CPU cores
    "small": dict(vocab=8000, hidden=128, layers=2, heads=4, intermediate=256, max_length=128, epochs=4, lr=1e-3, batch=32),
    # between small and base (4 layers x 256, 4 heads): a teacher expensive enough for its scoring to be most of a
    # job; `--epochs 0` exports it untrained, for timing (bench:workers --text-teacher)
    "medium": dict(vocab=8000, hidden=256, layers=4, heads=4, intermediate=1024, max_length=128, epochs=0, lr=5e-4, batch=32),
    # BERT-base's shape (12 layers x 768, 12 heads): the size of the teachers users fine-tune. Too slow to
    # train on this CPU; `--epochs 0` exports it untrained, for timing a realistic teacher per query.
    "base": dict(vocab=8000, hidden=768, layers=12, heads=12, intermediate=3072, max_length=128, epochs=0, lr=1e-4, batch=32),
}


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def label_names_of(train: list[dict]) -> list[str]:
    """Label names in order of first appearance, as distilxr's JSONL reader numbers them."""
    seen: dict[str, int] = {}
    for r in train:
        for l in r["labels"]:
            seen.setdefault(l, len(seen))
    return list(seen)


def label_text(name: str) -> str:
    """A label's text for cross/bi-encoders: 'use::editing' -> 'use editing'. distilxr uses the same rule."""
    return name.replace("::", " ").replace("-", " ").replace("_", " ")


def train_tokenizer(texts: list[str], vocab: int) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab, special_tokens=SPECIAL, min_frequency=2))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tok


def encode(tok: Tokenizer, texts: list[str], max_length: int, pairs: list[str] | None = None) -> dict[str, torch.Tensor]:
    tok.enable_truncation(max_length=max_length, strategy="longest_first")
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    enc = tok.encode_batch(list(zip(texts, pairs)) if pairs is not None else texts)
    tok.no_truncation()
    tok.no_padding()
    return {
        "input_ids": torch.tensor([e.ids for e in enc], dtype=torch.long),
        "attention_mask": torch.tensor([e.attention_mask for e in enc], dtype=torch.long),
        "token_type_ids": torch.tensor([e.type_ids for e in enc], dtype=torch.long),
    }


def bert_config(p: dict, vocab_size: int, num_labels: int = 1) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=p["hidden"],
        num_hidden_layers=p["layers"],
        num_attention_heads=p["heads"],
        intermediate_size=p["intermediate"],
        max_position_embeddings=max(64, p["max_length"]),
        num_labels=num_labels,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )


class Classifier(torch.nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.bert = BertForSequenceClassification(cfg)

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


class Embedder(torch.nn.Module):
    """Mean of the last hidden states over real tokens, L2-normalised."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.bert = BertModel(cfg, add_pooling_layer=False)

    def forward(self, input_ids, attention_mask, token_type_ids):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1.0), dim=-1)


def batches(n: int, size: int, rng: random.Random):
    order = list(range(n))
    rng.shuffle(order)
    for s in range(0, n, size):
        yield order[s : s + size]


def train(args, p, tok, train_rows, names):
    texts = [r["text"] for r in train_rows]
    label_ids = {n: i for i, n in enumerate(names)}
    positives = [[label_ids[l] for l in r["labels"]] for r in train_rows]
    L = len(names)
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    vocab = tok.get_vocab_size()
    if args.kind == "classifier":
        model = Classifier(bert_config(p, vocab, L))
    elif args.kind == "cross-encoder":
        model = Classifier(bert_config(p, vocab, 1))
    else:
        model = Embedder(bert_config(p, vocab))
    enc = encode(tok, texts, p["max_length"])
    label_texts = [label_text(n) for n in names]
    label_enc = encode(tok, label_texts, 16)
    if p["epochs"] == 0:
        model.eval()
        return model
    opt = torch.optim.AdamW(model.parameters(), lr=p["lr"], weight_decay=0.01)
    steps_per_epoch = math.ceil(len(texts) / p["batch"])
    total = steps_per_epoch * p["epochs"]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=p["lr"], total_steps=total, pct_start=0.1)
    deadline = time.time() + args.minutes * 60
    step = 0
    model.train()
    for epoch in range(p["epochs"]):
        seen, loss_sum = 0, 0.0
        for idx in batches(len(texts), p["batch"], rng):
            if time.time() > deadline:
                break
            feeds = {k: v[idx] for k, v in enc.items()}
            if args.kind == "classifier":
                y = torch.zeros(len(idx), L)
                for r, i in enumerate(idx):
                    y[r, positives[i]] = 1.0
                logits = model(**feeds)
                if args.loss == "bce":
                    loss = F.binary_cross_entropy_with_logits(logits, y)
                else:  # softmax over all labels against the positives' uniform distribution
                    loss = -((y / y.sum(-1, keepdim=True)) * F.log_softmax(logits, -1)).sum(-1).mean()
            elif args.kind == "cross-encoder":
                q, lt, y = [], [], []
                for i in idx:  # one positive and `negatives` random labels per example
                    q.append(texts[i]); lt.append(label_texts[rng.choice(positives[i])]); y.append(1.0)
                    for _ in range(args.negatives):
                        neg = rng.randrange(L)
                        q.append(texts[i]); lt.append(label_texts[neg]); y.append(float(neg in positives[i]))
                pair = encode(tok, q, p["max_length"], lt)
                loss = F.binary_cross_entropy_with_logits(model(**pair).squeeze(-1), torch.tensor(y))
            else:
                qe = model(**feeds)
                le = model(**label_enc)  # [L, H]: every label, so the softmax is over all of them
                logits = qe @ le.T / BI_ENCODER_TAU
                y = torch.zeros(len(idx), L)
                for r, i in enumerate(idx):
                    y[r, positives[i]] = 1.0 / len(positives[i])
                loss = -(y * F.log_softmax(logits, -1)).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step < total - 1:
                sched.step()
            step += 1
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
        print(f"epoch {epoch + 1}: {seen} examples, loss {loss_sum / max(seen, 1):.4f}, {max(0, deadline - time.time()):.0f} s left", flush=True)
        if time.time() > deadline:
            break
    model.eval()
    return model


def precision_at(model, args, p, tok, rows, names, k_max=5, limit=1000):
    """P@1 and P@5 on evenly spaced test rows (the file is in package-name order), classifier and bi-encoder."""
    rows = rows[:: max(1, len(rows) // limit)][:limit]
    label_ids = {n: i for i, n in enumerate(names)}
    with torch.no_grad():
        enc = encode(tok, [r["text"] for r in rows], p["max_length"])
        if args.kind == "classifier":
            scores = model(**enc)
        elif args.kind == "bi-encoder":
            scores = model(**enc) @ model(**encode(tok, [label_text(n) for n in names], 16)).T
        else:
            return None
    top = scores.topk(k_max, dim=-1).indices.tolist()
    hits1 = hits5 = 0
    for r, t in zip(rows, top):
        gold = {label_ids[l] for l in r["labels"] if l in label_ids}
        hits1 += t[0] in gold
        hits5 += sum(1 for y in t if y in gold)
    return {"p@1": hits1 / len(rows), "p@5": hits5 / (5 * len(rows)), "rows": len(rows)}


def fit_temperature(model, p, tok, rows, names) -> float | None:
    """Temperature scaling (Guo et al., 2017) on rows the model never trained on: the T minimising the
    NLL of softmax(logits / T) against the positives' uniform distribution, the form in which distilxr
    distils a teacher. Classifier only; None without rows."""
    if not rows:
        return None
    label_ids = {n: i for i, n in enumerate(names)}
    with torch.no_grad():
        logits = torch.cat([model(**encode(tok, [r["text"] for r in rows[s : s + 256]], p["max_length"])) for s in range(0, len(rows), 256)])
    y = torch.zeros_like(logits)
    for r, row in enumerate(rows):
        ids = [label_ids[l] for l in row["labels"] if l in label_ids]
        y[r, ids] = 1.0 / max(1, len(ids))
    nll = lambda t: float(-(y * F.log_softmax(logits / t, -1)).sum(-1).mean())
    grid = [math.exp(x / 20) for x in range(-60, 61)]  # T in [0.05, 20], log-spaced
    best = min(grid, key=nll)
    print(f"temperature {best:.3f}: held-out NLL {nll(1.0):.4f} -> {nll(best):.4f} on {len(rows)} rows", flush=True)
    return best


def export(model, args, p, tok, names, out: Path, temperature: float | None = None):
    out.mkdir(parents=True, exist_ok=True)
    output = "embeddings" if args.kind == "bi-encoder" else "logits"
    dummy = encode(tok, ["a package", "another package for tests"], p["max_length"],
                   ["use editing", "works with text"] if args.kind == "cross-encoder" else None)
    names_in = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names_in}
    axes[output] = {0: "batch"}
    torch.onnx.export(
        model,
        tuple(dummy[n] for n in names_in),
        str(out / "model.onnx"),
        input_names=names_in,
        output_names=[output],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": p["max_length"],
        "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]",
    }, indent=1) + "\n")
    manifest = {
        "format": 1,
        "kind": args.kind,
        "inputs": names_in,
        "output": output,
        "max_length": p["max_length"],
        "labels": names,
    }
    if args.kind != "classifier":
        manifest["label_max_length"] = 16
    if args.kind == "bi-encoder":
        manifest["score_scale"] = 1 / BI_ENCODER_TAU
    if temperature is not None:
        manifest["temperature"] = temperature
    (out / "teacher.json").write_text(json.dumps(manifest, indent=1) + "\n")


def check_onnx(model, args, p, tok, out: Path, rows):
    """The exported graph agrees with PyTorch on a few real rows (tolerance for float reordering)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    texts = [r["text"] for r in rows[:4]]
    pairs = ["use editing"] * len(texts) if args.kind == "cross-encoder" else None
    enc = encode(tok, texts, p["max_length"], pairs)
    got = sess.run(None, {k: v.numpy() for k, v in enc.items()})[0]
    with torch.no_grad():
        want = model(**enc).numpy()
    diff = float(abs(got - want).max())
    print(f"ONNX max |diff| vs PyTorch: {diff:.2e}")
    assert diff < 1e-3, diff


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["classifier", "cross-encoder", "bi-encoder"], default="classifier")
    ap.add_argument("--data", type=Path, required=True, help="folder with train.jsonl (and test.jsonl)")
    ap.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    ap.add_argument("--preset", choices=list(PRESETS), default="small")
    ap.add_argument("--minutes", type=float, default=15.0, help="training time budget")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the preset's)")
    ap.add_argument(
        "--loss",
        choices=["softmax", "bce"],
        default="softmax",
        help="classifier loss: softmax over all labels (targets uniform over the positives; BCE over 567 labels "
        "stalls at the label priors when training from scratch) or per-label binary cross-entropy",
    )
    ap.add_argument("--limit", type=int, default=None, help="train on the first N rows only")
    ap.add_argument(
        "--calibration-rows",
        type=int,
        default=1000,
        help="classifier: training rows held out of training to fit the calibration temperature (0: none)",
    )
    ap.add_argument("--negatives", type=int, default=3, help="cross-encoder: random negatives per positive")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    p = dict(PRESETS[args.preset])
    if args.epochs is not None:
        p["epochs"] = args.epochs
    if args.lr is not None:
        p["lr"] = args.lr
    train_rows = read_jsonl(args.data / "train.jsonl")[: args.limit]
    test_path = args.data / "test.jsonl"
    test_rows = read_jsonl(test_path) if test_path.exists() else []
    names = label_names_of(train_rows)
    t0 = time.time()
    tok = train_tokenizer([r["text"] for r in train_rows], p["vocab"])
    print(f"{len(train_rows)} rows, {len(names)} labels, vocab {tok.get_vocab_size()}, preset {args.preset}", flush=True)
    held_out: list[dict] = []
    if args.kind == "classifier" and args.calibration_rows > 0 and p["epochs"] > 0:
        order = list(range(len(train_rows)))
        random.Random(args.seed).shuffle(order)
        cut = set(order[: args.calibration_rows])
        held_out = [r for i, r in enumerate(train_rows) if i in cut]
        fit_rows = [r for i, r in enumerate(train_rows) if i not in cut]
    else:
        fit_rows = train_rows
    model = train(args, p, tok, fit_rows, names)
    print(f"trained in {time.time() - t0:.0f} s")
    if test_rows:
        print("test:", precision_at(model, args, p, tok, test_rows, names))
    temperature = fit_temperature(model, p, tok, held_out, names)
    export(model, args, p, tok, names, args.out, temperature)
    check_onnx(model, args, p, tok, args.out, test_rows or train_rows)
    size = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"bundle written to {args.out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
