"""Samples mapped through a network before W1 is measured: FID's habit of comparing image sets on
Inception-v3's pool features rather than on pixels (Heusel et al., "GANs trained by a two
time-scale update rule converge to a local Nash equilibrium", NeurIPS 2017).

The network is a local file, never a download: a TorchScript module (``torch.jit.save``), which
receives the samples as loaded (images as (n, C, H, W) floats in [-1, 1]), or a torchvision
architecture and a state dict, ``"resnet18:resnet18-f37072fd.pth"``, which receives them as
torchvision's ImageNet weights expect (RGB in [0, 1], ImageNet-normalized).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn
from torchvision.transforms.v2.functional import normalize
from tqdm.auto import tqdm

from ot_gan.errors import InputError

# torchvision's classification weights expect ImageNet-normalized RGB in [0, 1]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
HEADS = ("fc", "classifier", "heads")  # where torchvision's classifiers keep their last layers
WHAT_TO_PASS = ("a TorchScript file (torch.jit.save), or ARCH:WEIGHTS, a torchvision architecture and a local "
                "state dict of torchvision's (resnet18:resnet18-f37072fd.pth)")


class ImageNetInput(nn.Module):
    """Runs ``net`` on images as torchvision's ImageNet weights expect them: the library's images
    ((n, C, H, W) in [-1, 1], gray or RGB) mapped to RGB in [0, 1], then normalized with ImageNet's
    mean and standard deviation."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        rgb = ((x + 1) / 2).expand(-1, 3, -1, -1) if x.shape[1] == 1 else (x + 1) / 2
        return self.net(normalize(rgb, IMAGENET_MEAN, IMAGENET_STD))


def _file_and_arch(spec: str) -> tuple[Path, str | None]:
    """The file that ``spec`` (see ``load_feature_network``) reads, and its torchvision
    architecture (None for TorchScript); an InputError saying what to pass if there is no file."""
    arch, sep, weights = spec.partition(":")
    scripted = not sep or Path(spec).expanduser().is_file()
    path = Path(spec if scripted else weights).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: no such file; {{features}} takes {WHAT_TO_PASS}", features=None)
    return path, None if scripted else arch


def network_digest(spec: str) -> str:
    """SHA-256 of the feature network's architecture name and file content: what a cache of its
    features is keyed by."""
    path, arch = _file_and_arch(spec)
    digest = hashlib.sha256(f"{arch}:".encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_feature_network(spec: str) -> nn.Module:
    """The feature network of ``spec``, in eval mode on the CPU.

    ``spec`` is a TorchScript file (it receives the samples as loaded), or ``ARCH:WEIGHTS``:
    ``torchvision.models.get_model(ARCH, weights=None)`` with the state dict of the local file
    WEIGHTS (``torch.load`` with ``weights_only``), whose classification head (``fc``,
    ``classifier`` or ``heads``) is replaced by the identity, so that the features are what fed it,
    and whose input is made what torchvision's ImageNet weights expect (``ImageNetInput``). For
    ``inception_v3`` that is torchvision's own weights file (``inception_v3_google-0cc3c7bd.pth``),
    built with ``transform_input`` as torchvision builds it for them: 2048-d pool features. The
    Inception weights of the FID papers (1,008 classes, no auxiliary head) are another network; to
    use them, save it as TorchScript."""
    path, arch = _file_and_arch(spec)
    if arch is None:
        try:
            with warnings.catch_warnings():  # torch 2.9+ calls TorchScript deprecated; it is the format asked for
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError:
            raise InputError(f"{path}: not a TorchScript file; {{features}} takes {WHAT_TO_PASS}",
                             features=None) from None
    if arch not in torchvision.models.list_models():
        raise InputError(f"{arch!r} is not a torchvision architecture (torchvision.models.list_models() names them)")
    # Inception and GoogLeNet initialize with SciPy's truncated normal (seconds), overwritten here anyway
    extra = {"init_weights": False} if arch in ("inception_v3", "googlenet") else {}
    if arch == "inception_v3":  # as torchvision builds it for its ImageNet weights
        extra["transform_input"] = True
    net = torchvision.models.get_model(arch, weights=None, **extra)
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:  # an unpickling error, a state dict of another architecture
        first = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0]
        raise InputError(f"{path}: not a state dict of {arch} ({first})") from None
    head = next((name for name in HEADS if hasattr(net, name)), None)
    if head is not None:
        setattr(net, head, nn.Identity())
    return ImageNetInput(net).eval()


@torch.no_grad()
def embed(net: nn.Module, data: Tensor, batch_size: int = 256, device: str | torch.device = "cpu",
          progress: bool = False, desc: str = "features") -> Tensor:
    """``net`` on every sample of ``data`` (n, ...), in batches of ``batch_size`` with a progress
    bar: the features (n, d) as float32 on the CPU."""
    net = net.to(device)
    out = []
    for i in tqdm(range(0, len(data), batch_size), desc=desc, disable=not progress, leave=False):
        batch = data[i:i + batch_size].to(device, torch.float32)
        try:
            f = net(batch)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise InputError(f"the feature network fails on samples of shape {tuple(batch.shape[1:])} ({first}); "
                             "it must take samples of this shape ({size} sets the side of images)", size=None) from None
        out.append(f.float().flatten(1).cpu())
    return torch.cat(out)
