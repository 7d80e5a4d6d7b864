"""Region bundle: a folder with `region.toml` naming the region's source files.

See the README for the format. Loading checks that every required section is present and names an
existing file; the individual sources are parsed by `evcharge_pipeline.sources`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUIRED_SECTIONS = ("boundary", "areas", "ev_ownership", "population", "stations")


class InputError(ValueError):
    """Bad input data: names the file, and where known the row (or feature) and the field."""

    def __init__(self, path: str | Path, message: str, row: int | None = None, field: str | None = None):
        self.path = str(path)
        self.row = row
        self.field = field
        where = [self.path]
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass(frozen=True)
class RegionBundle:
    """A parsed `region.toml` and the folder it lives in."""

    root: Path
    name: str
    config: dict[str, Any]

    @property
    def toml_path(self) -> Path:
        return self.root / "region.toml"

    def section(self, name: str) -> dict[str, Any] | None:
        value = self.config.get(name)
        if value is not None and not isinstance(value, dict):
            raise InputError(self.toml_path, f"[{name}] must be a table, got {type(value).__name__}", field=name)
        return value

    def require(self, name: str) -> dict[str, Any]:
        value = self.section(name)
        if value is None:
            raise InputError(self.toml_path, f"required section [{name}] is missing", field=name)
        return value

    def resolve(self, relative_path: str, section: str | None = None) -> Path:
        """Path of a file named in the bundle; a clear error when it does not exist or lies outside the
        bundle folder (unless region.toml sets `allow_external_paths = true`)."""
        field = f"{section}.path" if section else "path"
        return bundle_file(self.root, relative_path, field, bool(self.config.get("allow_external_paths") is True))

    def source_path(self, section: str) -> Path:
        """The existing file named by `path` in a section (required sections raise when absent)."""
        config = self.require(section)
        if "path" not in config:
            raise InputError(self.toml_path, f"[{section}] has no 'path'", field=f"{section}.path")
        return self.resolve(str(config["path"]), section)


def bundle_file(root: Path, relative_path: str, field: str, allow_external: bool = False) -> Path:
    """The existing file `relative_path` names inside the bundle folder `root`.

    Absolute paths, `..` and symbolic links that lead outside `root` are refused unless `allow_external`
    (region.toml's top-level `allow_external_paths = true`): a bundle from elsewhere cannot make the
    pipeline read, and echo into errors, files such as `../../secret.env`."""
    root = Path(root).resolve()
    toml_path = root / "region.toml"
    path = (root / str(relative_path)).resolve()
    if not allow_external and not path.is_relative_to(root):
        raise InputError(toml_path, f"names a file outside the bundle folder: {str(relative_path)[:200]!r} "
                         "(set allow_external_paths = true in region.toml to allow it)", field=field)
    if not path.is_file():
        raise InputError(toml_path, f"names a file that does not exist: {str(relative_path)[:200]}", field=field)
    return path


def allows_external_paths(root: Path) -> bool:
    """Whether the bundle in `root` sets `allow_external_paths = true` in its region.toml."""
    try:
        config = tomllib.loads((Path(root) / "region.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return config.get("allow_external_paths") is True


def load_region(folder: str | Path) -> RegionBundle:
    """Read and validate `folder/region.toml`: required sections present, named files existing."""
    root = Path(folder).resolve()
    toml_path = root / "region.toml"
    if not toml_path.is_file():
        raise InputError(toml_path, "region bundle has no region.toml")
    try:
        config = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(toml_path, f"not valid TOML: {exc}") from exc
    bundle = RegionBundle(root=root, name=str(config.get("name", root.name)), config=config)
    for section in REQUIRED_SECTIONS:
        if bundle.require(section).get("format") != "openchargemap_api":  # a live pull has no file
            bundle.source_path(section)
    return bundle


def section_toml(section: dict, name: str) -> str:
    """One region.toml section as TOML text (`[name]` and one `key = value` line per entry), to append to a bundle."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    return f"[{name}]\n" + "".join(f"{key} = {value(v)}\n" for key, v in section.items())
