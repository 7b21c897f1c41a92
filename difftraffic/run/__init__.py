"""One training run: planning and checks before anything is created (``planning``), building tasks and learners
(``factory``), the training loop (``training``), run directories and checkpoints (``rundir``), evaluation
(``evaluate``), config overrides (``overrides``), CSV/TensorBoard logs (``csvlog``, ``tblog``), the progress line
(``progress``), learning-curve plots (``curves``) and the command-line plumbing shared by every command
(``commandline``)."""
