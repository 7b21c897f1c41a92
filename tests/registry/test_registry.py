"""The registry is the one list of task and learner names: every package's list is the registry's, every entry
builds what it names, the paper's numbers use only registered names, and importing it stays light."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from difftraffic import registry

REPO = Path(__file__).resolve().parents[2]
MUJOCO = importlib.util.find_spec("mujoco") is not None or bool(os.environ.get("CI"))


def _needs(name: str):
    missing = registry.TASKS[name].extra == "physics" and not MUJOCO
    return pytest.mark.skipif(missing, reason="needs the [physics] extra (MuJoCo)")


def test_importing_the_registry_and_the_cli_does_not_import_torch():
    code = (
        "import sys, difftraffic.registry as r; r.bundled_scenarios(); r.task_family('x.yaml'); r.budget_text(); "
        "assert not {'torch', 'yaml', 'numpy'} & set(sys.modules), 'registry'; "
        "import difftraffic.cli; assert 'torch' not in sys.modules, 'cli'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_every_package_list_is_the_registrys():
    import learners
    import learners.tasks
    import learners.tasks.physics
    from difftraffic.cli import commands as cli
    from difftraffic.run import factory as runsetup
    from difftraffic.sweep import grid
    from learners.core import config

    names = tuple(registry.LEARNERS)
    assert names == tuple(learners.LEARNERS) == cli.LEARNERS == grid.LEARNERS == config.LEARNER_NAMES
    tasks = tuple(registry.TASKS)
    assert tasks == tuple(learners.TASK_NAMES) == runsetup.TASK_NAMES
    assert ", ".join(tasks) == cli.TASKS_HELP
    assert tasks == learners.tasks.FUNCTION_TASKS + learners.tasks.PHYSICS_TASKS
    assert registry.task_names("physics") == learners.tasks.physics.PHYSICS_TASKS
    assert config.FAMILIES == registry.FAMILIES


def test_the_cli_lists_the_registry():
    from difftraffic.cli.commands import main

    from ..clihelpers import run_in_process

    text = " ".join(run_in_process(main, "run", "--help").out.split())  # unwrapped
    for name in (*registry.TASKS, *registry.LEARNERS, registry.budget_text()):
        assert name in text
    assert f"(default: {registry.DEFAULT_LEARNER})" in text and "lrp (LR+RP)" in text
    assert registry.budget_text() == "2000 functions, hopper and ant, 500 cartpole and traffic"


@pytest.mark.parametrize("name", [pytest.param(n, marks=_needs(n)) for n in registry.TASKS])
def test_every_task_entry_builds_its_task(name):
    from difftraffic.run.factory import resolve_task
    from learners import make_task

    entry = registry.TASKS[name]
    assert entry.family in registry.FAMILIES[:2] and entry.title and entry.epochs >= 1
    env = make_task(name, num_envs=2, seed=0)
    assert env.name == name and env.family == entry.family
    assert registry.task_family(name) == entry.family and resolve_task(name) == (name, name, entry.family)
    env.close()


@pytest.mark.parametrize("name", registry.LEARNERS)
def test_every_learner_entry_names_its_class_and_config(name):
    import matplotlib.colors

    from learners import learner_class
    from learners.base import Learner

    entry = registry.LEARNERS[name]
    cls = learner_class(name)
    assert cls is registry.load(entry.cls) and issubclass(cls, Learner) and cls.name == name
    assert (REPO / "learners" / "configs" / f"{name}.yaml").is_file()
    assert matplotlib.colors.is_color_like(entry.colour) and entry.title
    assert set(entry.families) <= set(registry.FAMILIES) and entry.families
    columns = sorted(e.paper_column for e in registry.LEARNERS.values())
    assert columns == list(range(len(registry.LEARNERS)))


def test_learner_config_files_know_only_registered_families():
    for path in (REPO / "learners" / "configs").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        sections = set(data) - {"defaults", "tasks"}
        assert sections <= set(registry.FAMILIES), path.name
        unknown = set(data.get("tasks") or {}) - set(registry.TASKS) - set(registry.bundled_scenarios())
        assert not unknown, f"{path.name}: tasks.{sorted(unknown)} are neither tasks nor bundled scenarios"


def test_the_papers_numbers_use_registered_names_and_learner_families():
    problems = {p for p, _ in registry.PAPER_METRIC} | {p for p, _ in registry.PAPER_TIMING}
    assert problems <= set(registry.TASKS) | set(registry.PAPER_SCENARIOS)
    for name in registry.PAPER_SCENARIOS:
        assert registry.scenario_file(name) is not None, name
    # a learner's families are exactly the paper tables it has a column in
    for family in ("functions", "physics", "traffic"):
        problems = set(registry.task_names(family)) if family != "traffic" else set(registry.PAPER_SCENARIOS)
        ran = {learner for (p, learner) in registry.PAPER_METRIC if p in problems}
        assert set(registry.learners_for(family)) == ran, family
    assert registry.paper_metric("2lane", registry.DEFAULT_LEARNER) == 873.7
    assert registry.paper_timing("1lane", registry.TIMING_BASELINE) == 282.0
    assert registry.problem_title("1lane") == "Single lane" and registry.problem_title("mine") == "mine"
    assert registry.paper_order(["gippo", "zz", "lr", "lrp"]) == ("lr", "lrp", "gippo", "zz")


def test_paper_epochs_are_every_learners_default_budget():
    import learners

    for spec in (*registry.TASKS, *registry.PAPER_SCENARIOS):
        for name in registry.LEARNERS:
            assert learners.default_config(name, spec)["max_epochs"] == registry.paper_epochs(spec), (spec, name)


def test_bundled_scenarios_are_the_loaders():
    from difftraffic.scenario.loader import bundled_scenarios, resolve_path

    found = registry.bundled_scenarios()
    assert list(found) == bundled_scenarios() and {"2lane", "ring_wave"} <= set(found)
    assert found == {name: resolve_path(name) for name in found}
    assert all(registry.scenario_file(n) == p for n, p in found.items())
    assert registry.scenario_file("scenarios/2lane.yaml") is None and registry.scenario_file("nope") is None


def test_a_task_added_to_the_registry_is_built_everywhere(tmp_path, monkeypatch):
    """One registry entry (plus the implementation) and make_task, run planning, Gymnasium and learner configs
    all know the task."""
    (tmp_path / "mytask_impl.py").write_text(
        "from learners.tasks.functions import FunctionEnv\n"
        "class Shifted(FunctionEnv):\n"
        "    def __init__(self, shift, **kw):\n"
        "        super().__init__('dejong', **kw)\n"
        "        self.shift = shift\n"
        "    @property\n"
        "    def name(self):\n"
        "        return 'mytask'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = registry.TaskEntry("mytask", "functions", "mytask_impl:Shifted", "Mine", 7, {"shift": 2.0})
    monkeypatch.setitem(registry.TASKS, "mytask", entry)
    import learners
    from difftraffic.gym import build_env
    from difftraffic.run.factory import resolve_task

    env = learners.make_task("mytask", num_envs=3)
    assert type(env).__name__ == "Shifted" and env.shift == 2.0 and env.num_envs == 3
    assert resolve_task("mytask") == ("mytask", "mytask", "functions") and registry.paper_epochs("mytask") == 7
    assert type(build_env("mytask", 2)).__name__ == "Shifted"
    cfg = learners.make_learner(registry.DEFAULT_LEARNER, env).config
    assert (cfg["family"], cfg["task"], cfg["horizon"]) == ("functions", "mytask", 1)


def test_a_missing_extra_is_named(monkeypatch):
    from learners.tasks import build_named_task

    entry = registry.TaskEntry("ghost", "physics", "no_such_module_xyz:Env", "Ghost", 1, extra="physics")
    monkeypatch.setitem(registry.TASKS, "ghost", entry)
    with pytest.raises(
        ImportError, match=r"task 'ghost' needs no_such_module_xyz: pip install 'difftraffic\[physics\]'"
    ):
        build_named_task("ghost", num_envs=1)


def test_the_import_contract_holds():
    """pyproject's import-linter contracts (also run by `make test` before pytest)."""
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists() and not os.environ.get("CI"):
        pytest.skip("import-linter is not installed (dev extra)")
    out = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
