//! Stage 3, `env`: a pinned Python environment per candidate commit, built
//! without hand-written scripts.
//!
//! For each commit the repository's metadata is read at that commit
//! ([`meta::EnvSpec`]). Commits whose metadata asks for the same environment,
//! made within the same sharing window (90 days by default), form one
//! *dependency set* and share one environment image (`r2e-gen/NAME-env:KEY`):
//! the set's earliest commit is checked out at `/testbed`, a virtualenv is made
//! at `/root/.venv`, and uv installs the project and its test requirements
//! with `--exclude-newer` set to that commit's date, so only versions
//! published before every commit of the set are used. What differs per commit
//! is only the source checkout, which validation adds on top. Development
//! tools that requirement files list (Sphinx, linters, tox, pre-commit, …:
//! [`meta::DEV_TOOLS`]) are not installed: the tests do not need them, and
//! their old releases are what most often fails to build.
//!
//! When an install fails, a short search runs (the paper's search-based
//! dependency resolution), at most [`EnvOptions::max_attempts`] tries:
//!
//! 1. Pythons in the order of [`python::order_candidates`] (the newest already
//!    released at the commit's date and allowed by `requires-python` first);
//! 2. for each, the editable install, with setuptools and wheel exempt from the
//!    date; after a build failure, the same with build-tool pins
//!    (`setuptools<72`, `cython<3`) as uv build constraints; then the build
//!    tools held to the date as well (but not before [`TOOLS_FLOOR`]) and the
//!    requirements only, `/testbed` put on the path by a `.pth` file instead
//!    of building the project; when a dependency's old sdist still does not
//!    build, that dependency alone is let past the date (its newest release,
//!    usually a wheel), up to three of them; the same for a dependency with
//!    no release before the date at all (deleted and re-uploaded later);
//! 3. when the dated pytest crashes on the Python or is older than 4.5 (its
//!    `-rA` summary does not list passing tests, which validation reads), the
//!    test harness (pytest, its own dependencies and the `pytest-*` plugins
//!    the repository asks for) is let past the date, and the repository's
//!    own pins of pytest and its plugins are dropped;
//! 4. when the installed environment cannot import a module the commit's
//!    tests import (pytest's collection reports `No module named 'X'`), or
//!    pytest itself cannot (`pkg_resources`, gone from setuptools 81 on), or
//!    pytest does not know an option the repository's `addopts` gives (a
//!    plugin's: `--cov` → pytest-cov, `-n` → pytest-xdist, …), the
//!    distribution providing it is added and the same try repeated;
//! 5. an environment counts as built only when the package imports: the
//!    commit's test modules collect (`pytest --collect-only`), or, at a
//!    commit without test modules, `import PKG` works for the packages of
//!    the checkout. A `SyntaxError` in the repository's own code, or its use
//!    of a name the standard library dropped (`collections.MutableMapping`),
//!    means the Python is too new (only older ones are tried after it); pytest, coverage or a
//!    plugin crashing lets the harness past the date (step 3); an exception
//!    raised in (or naming) an installed dependency lets that dependency
//!    past the date, like one that does not build (`collection_fails`,
//!    `package_import_fails`); any other failure moves on to the next
//!    Python. No image is kept for a set whose every try failed.
//!
//! Every try is recorded ([`Attempt`]); the row of each commit says what
//! worked. Per-repository overrides ([`Overrides`], a TOML file) cover the hard
//! cases: Python versions, extra requirements, build constraints, a command run
//! before installing, a custom install command.
//!
//! The parts: `types` (options, overrides, rows and events), `install` (the
//! install script of one try), `failure` (what a failed try's log says),
//! `search` (the tries of one set) and `build` (sets, images and rows).

mod build;
mod failure;
mod install;
pub mod meta;
pub mod python;
mod search;
mod types;

pub use build::{build_envs, read_spec};
pub use failure::distribution_for;
pub use install::{BUILD_TOOLS, HARNESS, PIN_STEP, TOOLS_FLOOR};
pub use types::{
    Attempt, EnvEvent, EnvMap, EnvOptions, EnvOutcome, EnvRow, EnvSummary, KEY_LABEL, Method,
    Overrides, PythonImage, RepoOverride, Setup, UV_SOURCE_SETTINGS, VENV, host_uv_env,
    load_env_map,
};
