"""The keys rlth-run reads, and the refusal of a key added with `+` (or `++`)
that none of them is: Hydra's struct mode refuses `trian.epochs=3`, but
`+train.lrr=0.1` adds a key, and the run would train without it.

The keys rlth-run reads are its config's schema: every key of the primary
config (conf/config.yaml) and of every option of every config group (conf/
and any `--config-dir`), where each option's keys sit (its package: the
group's path, or the root for `@package _global_` files such as the
experiment presets). A key of another option of the group is allowed (such a
key is real, the chosen option just does not use it). Below a key whose
value is null somewhere (`pruner.layer_rates`: layer-name patterns), any key
is allowed: what it holds is the user's. Hydra's own keys (`hydra.*`) and
config-group choices (`+experiment=...`) are Hydra's to check.

Torch-free: checked before torch is imported and before any file is written.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf

from .values import ConfigError


@dataclass
class Schema:
    keys: set[str] = field(default_factory=set)  # every key, leaves and the nodes above them
    open: set[str] = field(default_factory=set)  # keys whose value is null somewhere: their contents are the user's

    def add(self, node, prefix: str) -> None:
        """The keys of `node` (a mapping), placed at `prefix` ('' is the root)."""
        if isinstance(node, DictConfig):  # as written: an interpolation is a value, not resolved here
            node = OmegaConf.to_container(node, resolve=False)
        for key, value in node.items():
            if key == "defaults" and not prefix:
                continue  # a defaults list is Hydra's, not a key
            path = f"{prefix}.{key}" if prefix else str(key)
            self.keys.add(path)
            if isinstance(value, dict):
                self.add(value, path)
            elif value is None:
                self.open.add(path)

    def reads(self, key: str) -> bool:
        if key in self.keys:
            return True
        parts = key.split(".")
        return any(".".join(parts[:i]) in self.open for i in range(1, len(parts)))

    def nearest(self, key: str) -> str | None:
        """The schema key most like `key`, if one is close enough to be a typo of it."""
        candidates = sorted(k for k in self.keys if not k.startswith("hydra.") and k != "hydra")
        found = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
        if not found and "." in key:  # a typo in the last part: compare it with the keys beside it
            parent, _, last = key.rpartition(".")
            near = difflib.get_close_matches(last, [k.rpartition(".")[2] for k in candidates if k.rpartition(".")[0] == parent], n=1, cutoff=0.6)
            found = [f"{parent}.{near[0]}"] if near else []
        return found[0] if found else None


def package_of(group: str, header_package: str | None) -> str:
    """Where a group option's keys sit in the config (Hydra's `@package`)."""
    if header_package in (None, "", "_group_"):
        return group.replace("/", ".")
    if header_package == "_global_":
        return ""
    package = header_package.removeprefix("_global_.")
    return package.replace("_group_", group.replace("/", ".")).replace("_name_", group.rpartition("/")[2])


def schema(repository, config_name: str = "config") -> Schema:
    """The keys of the primary config and of every option of every group but Hydra's,
    from Hydra's config repository (conf/ and any --config-dir)."""
    out = Schema()
    primary = repository.load_config(config_name)
    if primary is not None:
        out.add(primary.config, "")
    for group in _groups(repository, ""):
        for option in repository.get_group_options(group, results_filter=_CONFIG):
            loaded = repository.load_config(f"{group}/{option}")
            if loaded is None or not isinstance(loaded.config, DictConfig):
                continue
            prefix = package_of(group, (loaded.header or {}).get("package"))
            parts = prefix.split(".") if prefix else []
            out.keys.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
            out.add(loaded.config, prefix)
    return out


def _groups(repository, parent: str) -> list[str]:
    """Every config group below `parent` (nested ones too), without Hydra's own."""
    found = []
    for name in repository.get_group_options(parent, results_filter=_GROUP):
        group = f"{parent}/{name}" if parent else name
        if group == "hydra":
            continue
        found.append(group)
        found += _groups(repository, group)
    return found


try:  # Hydra's ObjectType, imported here so that the module loads without Hydra's internals
    from hydra.core.object_type import ObjectType

    _CONFIG, _GROUP = ObjectType.CONFIG, ObjectType.GROUP
except ImportError:  # pragma: no cover
    _CONFIG = _GROUP = None


def added_keys(task_overrides) -> list[tuple[str, str]]:
    """(key, the override as written) for each `+key=...` and `++key=...` override that adds a
    config key (not a config group's option, not one of Hydra's keys)."""
    out = []
    for text in map(str, task_overrides):
        stripped = text.lstrip("+")
        if stripped == text or "=" not in stripped:
            continue
        key = stripped.partition("=")[0].partition("@")[0]
        if key == "hydra" or key.startswith("hydra.") or key.startswith("hydra/"):
            continue
        out.append((key, text))
    return out


def repository_of(config_dirs: list[str]):
    """Hydra's config repository over `config_dirs` (first wins), for when no Hydra app is running
    (the composition failed): a `--config-dir`, then conf/."""
    from hydra._internal.config_repository import ConfigRepository
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl

    path = ConfigSearchPathImpl()
    for directory in config_dirs:
        path.append("rlth-run", f"file://{directory}")
    return ConfigRepository(config_search_path=path)


def unknown_key_line(override: str, repository, config_name: str = "config") -> str:
    """The line for an override of a key no config has (Hydra refuses it): the nearest real key, if one is near."""
    key = override.lstrip("+~").partition("=")[0]
    known = schema(repository, config_name)
    if known.reads(key):  # another option of its group has it, e.g. model.width with model=conv2
        return f"{override}: the options chosen have no key {key} (another option of its group has it); `rlth-run --cfg job` prints the keys they have"
    near = known.nearest(key)
    hint = f"; did you mean {near}?" if near else "; `rlth-run --cfg job` prints every key"
    return f"{override}: {key} is not a key rlth-run reads{hint}"


def check(task_overrides, repository, config_name: str = "config") -> None:
    """ConfigError for the first key added with `+` that rlth-run does not read, naming the nearest real key."""
    added = [(key, text) for key, text in added_keys(task_overrides) if "/" not in key and not repository.group_exists(key)]
    if not added:
        return
    known = schema(repository, config_name)
    for key, text in added:
        if not known.reads(key):
            near = known.nearest(key)
            value = text.partition("=")[2]
            hint = f"; did you mean {near}? (set a key rlth-run has without the +: {near}={value})" if near else \
                "; `rlth-run --cfg job` prints every key"
            raise ConfigError(f"{text}: {key} is not a key rlth-run reads, so the run would ignore it{hint}")
