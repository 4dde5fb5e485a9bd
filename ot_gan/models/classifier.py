"""A small image classifier, trained by ot-gan on the real data to score generated images
(nothing is downloaded)."""

from __future__ import annotations

from torch import Tensor, nn


class SmallClassifier(nn.Module):
    """Two 3x3 conv blocks with max pooling, global average pooling and a linear layer."""

    def __init__(self, channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def features(self, x: Tensor) -> Tensor:
        """The pooled features the last layer classifies (n, 2 * width)."""
        return self.net[:-1](x)
