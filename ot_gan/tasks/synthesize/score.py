"""Scoring a synthesize run: class fidelity (AM Score, hit rate), diversity per class (precision,
recall, spread), realism per class beside its floor, and a BiGAN's reconstructions of images the
run never saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Categorical, kl_divergence
from tqdm.auto import trange

from ot_gan.data import Samples, source_path
from ot_gan.diversity import mean_pairwise_distance, precision_recall
from ot_gan.engine import check_fits, load_generator
from ot_gan.errors import InputError
from ot_gan.models import SmallClassifier
from ot_gan.optim import AdaShift
from ot_gan.realism import feature_map, realism_report, spaces
from ot_gan.tasks.synthesize.model import APP, build_generator, load_images
from ot_gan.tasks.synthesize.use import generate, reconstruct, sample_labels


def train_classifier(data: Samples, steps: int, seed: int, progress: bool = False) -> SmallClassifier:
    """The scoring classifier, trained by ot-gan on real labeled images with AdaShift; torch's
    global generator is left as it was."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallClassifier(data.data.shape[1], len(data.classes))
    opt = AdaShift(model.parameters(), lr=1e-3)
    for _ in trange(steps, desc="classifier", disable=not progress, leave=False):
        idx = torch.randint(len(data), (64,), generator=gen)
        loss = F.cross_entropy(model(data.data[idx]), data.labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def class_probabilities(model: SmallClassifier, images: Tensor) -> Tensor:
    return torch.cat([model(part).softmax(1) for part in images.split(256)])


@torch.no_grad()
def class_features(model: SmallClassifier, images: Tensor) -> Tensor:
    return torch.cat([model.features(part) for part in images.split(256)])


def am_score(probs: Tensor, prior: Tensor) -> float:
    """AM Score (Zhou et al., arXiv 1703.02000), lower is better: mean_i H(C(x_i)) + KL(prior ||
    mean_i C(x_i)), ``prior`` the class distribution of the training data."""
    return float(Categorical(probs=probs).entropy().mean()
                 + kl_divergence(Categorical(probs=prior), Categorical(probs=probs.mean(0))))


def same_source(a: str, b: str) -> bool:
    """Whether two source specs name the same data (one folder written two ways included)."""
    pa, pb = source_path(a), source_path(b)
    return a == b or (pa is not None and pb is not None and pa.resolve() == pb.resolve())


def evaluate(run: Path, images: str, n: int = 1000, classifier_steps: int = 1000, w1_steps: int = 300,
             seed: int = 0, device: torch.device = torch.device("cpu"), progress: bool = False,
             skip_bad: bool = False, features: str | None = None) -> dict[str, Any]:
    """``score`` of a trained run against the labeled real ``images``; on the images the run kept
    out of training when ``images`` is its training source, in pixels or the ``features`` of a
    network file."""
    generator, arch = load_generator(run, APP, build_generator, device)
    split = arch.get("split")
    unseen = bool(split and split["holdout"] and same_source(images, split["images"]))
    real = load_images(images, arch["size"], split["seed"] if unseen else seed, skip_bad)
    if real.labels is None:
        raise InputError(f"{images}: eval needs labeled images (a folder with one subfolder per class, or digits)")
    check_fits(images, real.data, arch["channels"], real.classes, arch["classes"] if arch["conditional"] else None)
    return {"run": str(run), "images": images,
            **score(generator, arch, real, n, classifier_steps, w1_steps, seed, device, progress,
                    features=features, split=split if unseen else None)}


def score(generator: nn.Module, arch: dict[str, Any], real: Samples, n: int, classifier_steps: int,
          w1_steps: int, seed: int = 0, device: torch.device = torch.device("cpu"), progress: bool = False,
          features: str | None = None, split: dict[str, Any] | None = None, realism: bool = True) -> dict[str, Any]:
    """Score ``n`` samples of ``generator`` against the labeled ``real`` images. The classifier
    trains on one part of them and is checked, with a BiGAN's reconstructions, on the other: the
    run's own held-out part when ``split`` (the run's) is given, else a random fifth. ``realism``:
    also ``realism_report`` per class (``w1_steps`` per critic), the slowest part."""
    train_part, held = real.split(split["holdout"], split["seed"]) if split else real.split(0.2, seed)
    classifier = train_classifier(train_part, classifier_steps, seed, progress)
    prior = torch.bincount(train_part.labels, minlength=len(real.classes)).float() / len(train_part)
    held_probs = class_probabilities(classifier, held.data)
    labels = sample_labels(arch, n, None)
    fakes = generate(generator, arch, n, labels, seed + 1)
    probs = class_probabilities(classifier, fakes)
    groups = labels if labels is not None else probs.argmax(1)
    result: dict[str, Any] = {
        "n": n, "classifier_accuracy": float((held_probs.argmax(1) == held.labels).float().mean()),
        "am_score": am_score(probs, prior), "am_score_real": am_score(held_probs, prior)}
    if labels is not None:
        hits = probs.argmax(1) == labels
        result["class_accuracy"] = {c: float(hits[labels == k].float().mean()) for k, c in enumerate(arch["classes"])}
    result["per_class"] = class_diversity(classifier, real, fakes, groups, seed)
    if realism:
        result["realism"] = realism_report({c: (fakes[groups == k], real.data[real.labels == k])
                                            for k, c in enumerate(real.classes)},
                                           spaces(feature_map(features, device)), w1_steps, seed, device)
    if arch["mode"] == "bigan":
        result["reconstruction"] = reconstruction_agreement(generator, classifier, held, unseen=split is not None)
    return result


def reconstruction_agreement(bigan: nn.Module, classifier: SmallClassifier, held: Samples,
                             unseen: bool) -> dict[str, Any]:
    """How often G(E(x)) is classified as the class of x, over the ``held`` images (``unseen``: the
    run never trained on them), beside chance: two independent draws of the class frequencies agree."""
    rebuilt = class_probabilities(classifier, reconstruct(bigan, held.data)).argmax(1)
    frequencies = torch.bincount(held.labels).double() / len(held)
    return {"agreement": float((rebuilt == held.labels).float().mean()), "chance": float(frequencies.square().sum()),
            "images": len(held), "unseen": unseen}


def class_diversity(classifier: SmallClassifier, real: Samples, fakes: Tensor, fake_labels: Tensor, seed: int,
                    k: int = 3) -> dict[str, dict[str, float]]:
    """Per class: precision and recall (k = 3) on the classifier's features and the spread (mean
    pairwise pixel distance) of the fakes, each beside the same figure for real images. The real
    images of a class are split in two halves A and B; fakes are compared with A at the size of B,
    and B with A is the real-vs-real reference. Fakes are grouped by the class they were drawn
    for, or by the classifier's guess for unconditional generators; a class with too few fakes or
    real images is left out."""
    gen = torch.Generator().manual_seed(seed)
    result = {}
    for c, name in enumerate(real.classes):
        images = real.data[real.labels == c]
        images = images[torch.randperm(len(images), generator=gen)]
        half = len(images) // 2
        mine = fakes[fake_labels == c][:len(images) - half]
        if min(half, len(mine)) <= k:
            continue
        a, b, f = (class_features(classifier, x) for x in (images[:half], images[half:], mine))
        precision, recall = precision_recall(a, f, k)
        precision_real, recall_real = precision_recall(a, b, k)
        result[name] = {"precision": precision, "recall": recall, "precision_real": precision_real,
                        "recall_real": recall_real, "spread": mean_pairwise_distance(mine),
                        "spread_real": mean_pairwise_distance(images[half:])}
    return result


def class_means(r: dict[str, Any]) -> dict[str, float]:
    """The per-class figures of ``score`` averaged over classes, and the spread as a ratio to the real one."""
    rows = r["per_class"].values()
    means = {key: sum(row[key] for row in rows) / len(rows) for key in next(iter(rows))}
    means["spread_ratio"] = sum(row["spread"] / row["spread_real"] for row in rows) / len(rows)
    if "class_accuracy" in r:
        means["hit_rate"] = sum(r["class_accuracy"].values()) / len(r["class_accuracy"])
    return means
