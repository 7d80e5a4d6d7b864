"""region.toml cannot point outside its bundle (unless allowed), and errors never echo file content."""

from __future__ import annotations

from pathlib import Path

import pytest

from evcharge_pipeline.region import InputError, load_region
from evcharge_pipeline.sources import bundle as sources
from evcharge_pipeline.sources.common import numeric_column, read_csv

SECRET = "OCM_API_KEY=sk-0123456789abcdef"


def _point_population_at(region: Path, target: str, allow: bool = False) -> None:
    text = (region / "region.toml").read_text().replace('path = "population.csv"', f'path = "{target}"')
    if allow:
        text = "allow_external_paths = true\n" + text
    (region / "region.toml").write_text(text)


@pytest.mark.parametrize("kind", ["relative", "absolute"])
def test_paths_outside_the_bundle_are_refused(sample_region: Path, tmp_path: Path, kind: str):
    secret = tmp_path / "secret.env"
    secret.write_text(SECRET + "\n")
    target = "../secret.env" if kind == "relative" else str(secret)
    _point_population_at(sample_region, target)
    with pytest.raises(InputError, match="outside the bundle folder") as error:
        load_region(sample_region)
    assert "sk-0123" not in str(error.value)


def test_a_symlink_out_of_the_bundle_is_refused(sample_region: Path, tmp_path: Path):
    secret = tmp_path / "secret.env"
    secret.write_text(SECRET + "\n")
    (sample_region / "link.csv").symlink_to(secret)
    _point_population_at(sample_region, "link.csv")
    with pytest.raises(InputError, match="outside the bundle folder"):
        load_region(sample_region)


def test_allowed_external_path_is_read_but_its_content_is_not_echoed(sample_region: Path, tmp_path: Path):
    secret = tmp_path / "secret.env"
    secret.write_text(SECRET + "\n")
    _point_population_at(sample_region, str(secret), allow=True)
    bundle = load_region(sample_region)
    with pytest.raises(InputError, match="missing column") as error:
        sources.load_population(bundle)
    assert "sk-0123" not in str(error.value) and "OCM_API_KEY" not in str(error.value)


def test_swap_files_stay_in_the_bundle(sample_region: Path):
    from evcharge_pipeline.swap.inputs import load_swap_inputs

    bundle = load_region(sample_region)
    section = dict(bundle.section("swap"), stations="../../etc/passwd")
    with pytest.raises(InputError, match="outside the bundle folder"):
        load_swap_inputs(bundle.root, section)


def test_unparsable_cells_are_truncated(tmp_path: Path):
    path = tmp_path / "p.csv"
    path.write_text("area,pop\nA1," + "x" * 5000 + "\n")
    frame = read_csv(path, ["area", "pop"])
    with pytest.raises(InputError) as error:
        numeric_column(frame, "pop", path)
    assert len(str(error.value)) < 300 and "row 2" in str(error.value)
