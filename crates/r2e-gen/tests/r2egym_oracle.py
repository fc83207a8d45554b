"""The oracle of tests/gym_parity.rs: R2E-Gym's own miner classes and
commit heuristics, run on every commit of a repository.

usage: python3 r2egym_oracle.py R2E_GYM_SRC HEURISTICS_DIR REPO [N]

R2E_GYM_SRC holds R2E-Gym's `r2egym` package (its `commit_models` are used);
HEURISTICS_DIR holds its `commit_data_heuristics.py`. For each commit this
does what R2E-Gym's `store_repo_commits.py` does (diff against the first
parent, parse, check the patch reads back, find the entities, store as JSON)
and then applies the filters of `load_repo_commits.py` in its order with the
`RepoAnalysisLoadArgs` defaults. It prints one line `RESULT <json>`: commit id
-> the first stage that drops it (`not_stored`, `small`, `python`,
`non_docstring`, `bug_edit`, `test_entity_edit`, `test_match`) or `kept`.
With N, only the newest N commits (in `git log` order) are judged.
"""

import datetime
import json
import subprocess
import sys
import types

src, heuristics_dir, repo = sys.argv[1:4]
newest = sys.argv[4:5]
sys.path.insert(0, src)

# Modules R2E-Gym imports that these steps do not use.
tqdm = types.ModuleType("tqdm")
tqdm.tqdm = lambda it, **_: it
sys.modules["tqdm"] = tqdm


class LoadArgs:
    """RepoAnalysisLoadArgs' default thresholds."""

    max_num_non_test_files = 5
    max_num_non_test_edited_lines = 200
    max_patch_length = 10000
    max_num_nontest_deleted_entities = 0
    max_num_nontest_added_entities = 1
    max_num_nontest_edited_entities = 4
    max_num_statement_entities = 6


import r2egym  # noqa: E402

analysis = types.ModuleType("r2egym.repo_analysis")
analysis.__path__ = [heuristics_dir]
sys.modules["r2egym.repo_analysis"] = analysis
args_module = types.ModuleType("r2egym.repo_analysis.repo_analysis_args")
args_module.RepoAnalysisLoadArgs = LoadArgs
sys.modules["r2egym.repo_analysis.repo_analysis_args"] = args_module

from r2egym.commit_models.commit_to_ast import CommitAnalyzer  # noqa: E402
from r2egym.commit_models.diff_classes import ParsedCommit  # noqa: E402
from r2egym.commit_models.parse_diff import CommitParser  # noqa: E402
from r2egym.repo_analysis import commit_data_heuristics as h  # noqa: E402


def git(*args):
    return subprocess.check_output(["git", *args], cwd=repo)


def store(commit):
    """The stored commit, or None where R2E-Gym's miner drops it."""
    try:
        diff = git("diff", "-p", f"{commit}^", commit).decode()
        message = git("log", "-1", "--pretty=%B", commit).decode().strip()
        date = git("log", "-1", "--pretty=%cd", commit).decode().strip()
        date = datetime.datetime.strptime(date, "%a %b %d %H:%M:%S %Y %z")
    except Exception:
        return None
    try:
        parsed = CommitParser().parse_commit(
            f"{commit}^", commit, diff, message, date, repo_location=repo
        )
    except Exception:
        return None
    if parsed.get_patch(only_python=False).strip() != diff.strip():
        return None
    try:
        CommitAnalyzer(parsed).analyze_commit(False)
    except SyntaxError:
        return None
    except Exception:
        pass
    return ParsedCommit(**json.loads(parsed.model_dump_json()))


def stage(commit):
    c = store(commit)
    if c is None:
        return "not_stored"
    args = LoadArgs()
    checks = [
        ("small", lambda: h.is_small_commit(c, args)),
        ("python", lambda: h.is_python_commit(c)),
        ("non_docstring", lambda: h.has_nontest_nondocstring_comment_change(c)),
        ("bug_edit", lambda: h.bugedit_type_commit(c, args)),
        ("test_entity_edit", lambda: h.has_test_entity_edit(c)),
        ("test_match", lambda: h.has_testmatch_edit(c)),
    ]
    for name, check in checks:
        if not check():
            return name
    return "kept"


commits = git("log", "--pretty=format:%H", *[f"-n{n}" for n in newest]).decode().split()
result = {c: stage(c) for c in commits}
print("RESULT " + json.dumps(result))
