"""Sweeps of task x learner x seed: the command (``command``), grid planning (``grid``) and presets (``presets``),
jobs on disk (``jobs``), local/Ray executors (``executors``), the runner and its status line (``runner``,
``status``), and aggregation into the docs' tables and figures (``results``, ``tables``, ``figures``, ``paper``)."""
