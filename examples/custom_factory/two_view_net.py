"""A small custom classifier exported through a Python factory (`two_view_net:build`).

Its `forward` takes a nested input, as many research models do: a dict of tensors (here just
`image`) plus a plain Python `temperature`. The config's `inputs:` describes that nest with
InputSpecs; the exported model has one feed, `image`. The two "views" are the image and its
mirror image (test-time augmentation inside the graph).
"""

from __future__ import annotations

import paddle
from paddle import nn


class TwoViewNet(nn.Layer):
    """Conv features of an image and its mirror image, averaged, then a linear classifier."""

    def __init__(self, num_classes: int = 4, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2D(3, width, 3, stride=2, padding=1), nn.BatchNorm2D(width), nn.ReLU(),
            nn.Conv2D(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2D(1), nn.Flatten())
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, views: dict, temperature: float = 1.0):
        image = views["image"]
        feats = (self.features(image) + self.features(paddle.flip(image, axis=[3]))) / 2
        logits = self.head(feats)
        return nn.functional.softmax(logits / temperature, axis=-1)


def build(num_classes: int = 4, width: int = 8) -> TwoViewNet:
    """The factory named in two_view_net.yml (`model.factory: two_view_net:build`)."""
    paddle.seed(7)  # deterministic random weights for the example
    return TwoViewNet(num_classes=num_classes, width=width)
