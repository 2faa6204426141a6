"""Datasets: each builder returns a :class:`Dataset` of two splits: tensors already on the
training device (small bundled data), or files streamed from disk (a user's folders).

A builder may carry a ``check(**params)`` attribute that validates what it will read (a user's
folder) cheaply; ``ablate`` calls it when the experiment is loaded, before anything trains. It
may also carry ``verify(**params) -> str``, which reads every file it will train on (headers
and ends, in parallel) and says what it checked; preflight calls it once, before a sweep or a
run starts.
"""

from ablate.data import digit_scenes, digits, multilabel_csv, voc_folder  # noqa: F401
from ablate.data._base import BaseSplit, Dataset, Split, StreamSplit

__all__ = ["BaseSplit", "Dataset", "Split", "StreamSplit"]
