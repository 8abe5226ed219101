"""Datasets as tensors, without torchvision.

>>> from lrlab.data import load_dataset
>>> data = load_dataset("digits", val_fraction=0.1)
>>> data.input_shape, data.num_classes, len(data.x_train), len(data.x_val), len(data.x_test)
((1, 8, 8), 10, 1293, 144, 360)

Modules: ``idx`` (IDX files: MNIST, Fashion-MNIST, any IDX pair), ``cifar`` (CIFAR-10 python
batches), ``builtin`` (scikit-learn digits and synthetic tasks), ``download`` (md5-checked,
atomic), ``batches`` (the in-memory batch iterator) and ``augment`` (batched torch ops).
"""

from __future__ import annotations

from lrlab.data.augment import Augment, Compose, HorizontalFlip, RandomCrop, RandomShift, parse_augment
from lrlab.data.batches import Batches
from lrlab.data.dataset import Data, Task
from lrlab.data.load import DATASETS, default_data_dir, load_dataset

__all__ = [
    "DATASETS",
    "Augment",
    "Batches",
    "Compose",
    "Data",
    "HorizontalFlip",
    "RandomCrop",
    "RandomShift",
    "Task",
    "default_data_dir",
    "load_dataset",
    "parse_augment",
]
