"""`safereflect scorer train`: fit the linear head of the `embedding` scorer on labelled text.

Texts are embedded once with the encoder (their first `max_length` tokens), a logistic
regression is fitted with classes weighted by inverse frequency (SafeLM up-weights the rare
unsafe classes), and held-out accuracy and F1 are reported. The head is saved as safetensors
weights plus a JSON file: never pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safereflect.data.scorers.embedding import Head, Pooling, embed_chunks
from safereflect.device import resolve_device
from safereflect.errors import UserError
from safereflect.jsonl import ensure_writable_dir, read_jsonl


def _sort_key(name: str) -> tuple[int, float | str]:
    try:
        return (0, float(name))
    except ValueError:
        return (1, name)


def train_head(
    data: Path,
    model: str,
    out: Path,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    max_length: int = 256,
    pooling: Pooling = "mean",
    batch_size: int = 32,
    device: str = "auto",
) -> dict[str, Any]:
    """Fit and save a head; returns its metrics on the held-out records."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    from safereflect.data.scorers import hf

    # every argument is checked before the encoder embeds anything (minutes on a large file)
    if not 0 < val_fraction < 1:
        raise UserError(f"--val-fraction must be between 0 and 1, exclusive (got {val_fraction})")
    if max_length < 1:
        raise UserError(f"--max-length must be at least 1 (got {max_length})")
    resolve_device(device)
    ensure_writable_dir(out)
    hf.load_config(model)
    records = read_jsonl(data, required=("text", "label"))
    labels = [str(r["label"]) for r in records]
    classes = sorted(set(labels), key=_sort_key)
    if len(classes) < 2:
        raise UserError(f"{data}: need at least two labels to train a classifier, found {classes}")
    counts = {c: labels.count(c) for c in classes}
    stratify = labels if min(counts.values()) >= 2 else None
    idx = np.arange(len(records))
    try:
        train_idx, val_idx = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=stratify)
    except ValueError as err:  # too few records for the split asked for
        raise UserError(
            f"{data}: {len(records)} records cannot be split with --val-fraction {val_fraction} ({err})"
        ) from None
    if len({labels[i] for i in train_idx}) < 2 or len(val_idx) == 0:
        raise UserError(
            f"{data}: {len(records)} records are too few: the training part needs two labels and the "
            f"held-out part at least one record",
            hint="add labelled records",
        )

    emb, owner = embed_chunks(
        model,
        [str(r["text"]) for r in records],
        pooling=pooling,
        max_length=max_length,
        stride=0,
        batch_size=batch_size,
        device=device,
    )
    first = np.unique(np.asarray(owner), return_index=True)[1]  # each text's first chunk
    x = emb[torch.as_tensor(first)].numpy()
    y = np.asarray([classes.index(lab) for lab in labels])

    clf = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed)
    clf.fit(x[train_idx], y[train_idx])
    pred = clf.predict(x[val_idx])
    metrics = {
        "accuracy": float(accuracy_score(y[val_idx], pred)),
        "f1_macro": float(
            f1_score(y[val_idx], pred, average="macro", labels=list(range(len(classes))), zero_division=0)
        ),
        "f1_per_class": dict(
            zip(
                classes,
                map(float, f1_score(y[val_idx], pred, average=None, labels=list(range(len(classes))), zero_division=0)),
            )
        ),
        "train_size": len(train_idx),
        "val_size": len(val_idx),
    }
    coef = torch.as_tensor(clf.coef_, dtype=torch.float32)
    bias = torch.as_tensor(clf.intercept_, dtype=torch.float32)
    if len(clf.classes_) == 2:  # sklearn's binary model is sigmoid(w.x + b) = softmax([0, w.x + b])
        coef = torch.cat([torch.zeros_like(coef), coef])
        bias = torch.cat([torch.zeros_like(bias), bias])
    # columns follow clf.classes_, which are the sorted indices present in training
    names = [classes[i] for i in clf.classes_]
    meta = {
        "model": model,
        "pooling": pooling,
        "max_length": max_length,
        "classes": names,
        "metrics": metrics,
        "seed": seed,
        "data": str(data),
    }
    Head(coef, bias, meta).save(out)
    return metrics
