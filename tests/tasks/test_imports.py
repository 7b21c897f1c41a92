"""Importing the packages stays light: no MuJoCo, Gymnasium, SB3 or pyglet until a task needs them."""

import subprocess
import sys


def test_importing_the_packages_does_not_import_heavy_extras():
    code = (
        "import sys, difftraffic, learners, learners.tasks, learners.tasks.physics, difftraffic.conformance;"
        "from learners.tasks import make_task; make_task('cartpole', 2); make_task('dejong', 2);"
        "bad = [m for m in ('mujoco', 'gymnasium', 'stable_baselines3', 'pyglet') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
