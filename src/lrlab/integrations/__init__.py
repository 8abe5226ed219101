"""Optional integrations (``pip install lrlab[integrations]``), each imported on its own so lrlab
itself needs neither library.

- :mod:`lrlab.integrations.lightning`: ``LRRangeTest``, a Lightning callback that runs the LR
  range test when ``fit`` starts and sets (or only reports) the LR.
- :mod:`lrlab.integrations.hf`: ``find_lr(trainer)`` on a Hugging Face ``Trainer``, returning the
  LR, warmup and schedule as ``TrainingArguments`` take them, and ``LRRangeTestCallback``.
"""
