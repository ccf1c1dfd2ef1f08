import json
import warnings

import h5py
import numpy as np
import pytest
import tifffile
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from matdyn_nb import load_stack, save_stack
from matdyn_nb.data import FORMATS, as_stack, normalize, pixel_sizes, rotate_augment
from matdyn_nb.errors import StackError

SUFFIXES = [".npy", ".npz", ".tif", ".h5", ".zarr", ".nc"]


def test_every_format_is_tested():
    assert set(FORMATS.values()) == {FORMATS[s] for s in SUFFIXES}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_2d(stack2d, tmp_path, suffix):
    path = save_stack(stack2d, tmp_path / f"stack{suffix}")
    xr.testing.assert_identical(load_stack(path), stack2d)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_3d_normalised_augmented(stack3d, tmp_path, suffix):
    stack = rotate_augment(normalize(stack3d), 1, rng=3)
    path = save_stack(stack, tmp_path / f"stack{suffix}")
    loaded = load_stack(path)
    xr.testing.assert_identical(loaded, stack)
    assert loaded.dtype == stack.dtype


@pytest.mark.parametrize("suffix", [".zarr", ".nc", ".h5"])
def test_lazy_loading_gives_the_same_values(stack2d, tmp_path, suffix):
    path = save_stack(stack2d, tmp_path / f"stack{suffix}")
    lazy = load_stack(path, lazy=True)
    assert not isinstance(lazy.data, np.ndarray)
    xr.testing.assert_identical(lazy.compute(), stack2d)


def test_zarr_stores_labels_as_zarr_specifies_them_and_gives_them_back_as_written(stack2d, tmp_path):
    import zarr

    labelled = stack2d.assign_coords(label=("frame", [f"scan {k}" for k in range(stack2d.sizes["frame"])]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr's UnstableSpecificationWarning for fixed-width unicode among them
        path = save_stack(labelled, tmp_path / "s.zarr")
        loaded = load_stack(path)
    group = zarr.open_group(path, mode="r")
    assert [group[name].metadata.to_dict()["data_type"] for name in ("channel", "label")] == ["string", "string"]
    xr.testing.assert_identical(loaded, labelled)
    assert {k: v.dtype for k, v in loaded.coords.items()} == {k: v.dtype for k, v in labelled.coords.items()}


def test_metadata_overrides_what_the_file_records(stack2d, tmp_path):
    path = save_stack(stack2d, tmp_path / "s.nc")
    loaded = load_stack(path, pixel_size=27.03)
    assert pixel_sizes(loaded) == pytest.approx({"y": 27.03, "x": 27.03})
    assert loaded.x.attrs["units"] == "nm"
    assert list(loaded.channel.values) == ["particle", "background"]
    assert loaded.attrs["modality"] == "CXDI"


def test_load_keywords_change_only_what_they_name(stack2d, tmp_path):
    sub = stack2d.isel(frame=[1, 2]).assign_coords(x=stack2d.x + 100.0, temp=("frame", [20.0, 30.0]))
    path = save_stack(sub, tmp_path / "sub.nc")
    loaded = load_stack(path, channel_names=["phase", "amplitude"])
    assert list(loaded.channel.values) == ["phase", "amplitude"]
    xr.testing.assert_identical(loaded.drop_vars("channel"), sub.drop_vars("channel"))


def test_refuses_to_overwrite(stack2d, tmp_path):
    path = save_stack(stack2d, tmp_path / "s.npy")
    before = path.read_bytes()
    with pytest.raises(StackError, match="overwrite=True"):
        save_stack(stack2d * 2, path)
    assert path.read_bytes() == before
    save_stack(stack2d * 2, path, overwrite=True)
    xr.testing.assert_allclose(load_stack(path), stack2d * 2)


def test_overwrite_zarr_directory(stack2d, tmp_path):
    path = save_stack(stack2d, tmp_path / "s.zarr")
    save_stack(stack2d + 1, path, overwrite=True)
    xr.testing.assert_allclose(load_stack(path), stack2d + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]  # no temporaries left


def test_unsafe_attrs_rejected_before_writing(stack2d, tmp_path):
    bad = stack2d.assign_attrs(config={"a": 1})
    with pytest.raises(StackError, match="json.dumps"):
        save_stack(bad, tmp_path / "s.nc")
    assert not (tmp_path / "s.nc").exists()


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
def test_round_trip_datetime_coords(stack2d, tmp_path, suffix, unit):
    start = np.datetime64("2024-05-01T12:00:00.123456789", unit)
    stack = stack2d.assign_coords(acquired=("frame", start + np.arange(3) * np.timedelta64(7, unit)))
    path = save_stack(stack, tmp_path / f"stack{suffix}")
    xr.testing.assert_identical(load_stack(path), stack)


def test_float16_to_netcdf_names_the_fix(stack2d, tmp_path):
    with pytest.raises(StackError, match=r"netCDF has no float16.*\.zarr.*astype\('float32'\)"):
        save_stack(stack2d.astype(np.float16), tmp_path / "half.nc")
    assert list(tmp_path.iterdir()) == []


def test_round_trip_single_pixel_tif(tmp_path):
    # found by the property test: tifffile misreads the JSON description of an all-ones shape
    stack = as_stack(np.ones((1, 1, 1, 1, 1), np.float32))
    xr.testing.assert_identical(load_stack(save_stack(stack, tmp_path / "one.tif")), stack)


# ----------------------------------------------------------------- files from elsewhere


def test_foreign_npy_with_user_metadata(tmp_path):
    np.save(tmp_path / "raw.npy", np.ones((4, 16, 16), np.float32))
    da = load_stack(tmp_path / "raw.npy", pixel_size=20.72, spatial_units="nm", frame_interval=7.2e-3)
    assert da.dims == ("frame", "channel", "y", "x")
    assert float(da.x[1]) == pytest.approx(20.72)
    assert da.time.values[-1] == pytest.approx(3 * 7.2e-3)


def test_foreign_imagej_tif_reads_pixel_size(tmp_path):
    data = np.random.default_rng(0).random((5, 2, 16, 16)).astype(np.float32)
    tifffile.imwrite(
        tmp_path / "fiji.tif",
        data,
        imagej=True,
        resolution=(1 / 0.04058, 1 / 0.04058),
        metadata={"axes": "TCYX", "unit": "micron", "finterval": 1.0},
    )
    da = load_stack(tmp_path / "fiji.tif")
    assert dict(da.sizes) == {"frame": 5, "channel": 2, "y": 16, "x": 16}
    assert da.x.attrs["units"] == "um"
    assert float(da.x[1]) == pytest.approx(0.04058, rel=1e-5)
    assert float(da.time[1]) == pytest.approx(1.0)
    np.testing.assert_array_equal(da.values, data)


def _imagej_stack(path, data, description):
    """Pages as ImageJ writes a plain stack: one image per page, the ImageJ description on the first."""
    with tifffile.TiffWriter(path) as tif:
        for i, image in enumerate(data):
            tif.write(image, photometric="minisblack", description=description if i == 0 else None, metadata=None)


def test_tif_that_may_be_a_time_series_asks_for_dims(tmp_path):
    data = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    _imagej_stack(tmp_path / "slices.tif", data, "ImageJ=1.54f\nimages=4\nslices=4\nloop=false\n")
    tifffile.imwrite(tmp_path / "default.tif", data, imagej=True)  # tifffile calls the images channels
    for name, other in [("slices.tif", "z slices"), ("default.tif", "channels")]:
        with pytest.raises(StackError, match=rf"time series or the {other}.*dims=\('frame', 'y', 'x'\) for a time"):
            load_stack(tmp_path / name)
    series = load_stack(tmp_path / "slices.tif", dims=("frame", "y", "x"))
    assert dict(series.sizes) == {"frame": 4, "channel": 1, "y": 16, "x": 16}
    np.testing.assert_array_equal(series.values[:, 0], data)
    assert dict(load_stack(tmp_path / "slices.tif", dims=("z", "y", "x")).sizes)["z"] == 4


def test_tif_whose_metadata_name_the_axis_loads_without_dims(tmp_path):
    data = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    _imagej_stack(tmp_path / "frames.tif", data, "ImageJ=1.54f\nimages=4\nframes=4\nloop=false\n")
    _imagej_stack(tmp_path / "volume.tif", data, "ImageJ=1.54f\nimages=4\nslices=4\nspacing=0.5\nloop=false\n")
    tifffile.imwrite(tmp_path / "channels.tif", data, imagej=True, metadata={"axes": "CYX", "mode": "composite"})
    assert dict(load_stack(tmp_path / "frames.tif").sizes)["frame"] == 4
    assert dict(load_stack(tmp_path / "volume.tif").sizes)["z"] == 4
    assert dict(load_stack(tmp_path / "channels.tif").sizes)["channel"] == 4


def test_tif_whose_axes_do_not_map_loads_with_the_dims_its_error_names(tmp_path):
    data = np.arange(3 * 2 * 8 * 8, dtype=np.float32).reshape(3, 2, 8, 8)
    tifffile.imwrite(tmp_path / "plain.tif", data)  # no metadata: tifffile reads axes 'QQYX'
    with pytest.raises(StackError, match=r"axes 'QQYX' .*dims=\('frame', 'channel', 'y', 'x'\)"):
        load_stack(tmp_path / "plain.tif")
    da = load_stack(tmp_path / "plain.tif", dims=("frame", "channel", "y", "x"))
    assert dict(da.sizes) == {"frame": 3, "channel": 2, "y": 8, "x": 8}
    np.testing.assert_array_equal(da.values, data)


def test_tif_written_a_page_at_a_time_loads_every_page(tmp_path):
    # an acquisition loop appending one image per frame: tifffile makes each page its own series
    data = np.arange(4 * 2 * 8 * 8, dtype=np.float32).reshape(4, 2, 8, 8)
    for frame in data:
        tifffile.imwrite(tmp_path / "appended.tif", frame[0], append=True)
        tifffile.imwrite(tmp_path / "appended_channels.tif", frame, append=True)
    da = load_stack(tmp_path / "appended.tif")
    assert dict(da.sizes) == {"frame": 4, "channel": 1, "y": 8, "x": 8}
    np.testing.assert_array_equal(da.values[:, 0], data[:, 0])
    da = load_stack(tmp_path / "appended_channels.tif", dims=("frame", "channel", "y", "x"))
    np.testing.assert_array_equal(da.values, data)
    tifffile.imwrite(tmp_path / "mixed.tif", data[0, 0], append=True)
    tifffile.imwrite(tmp_path / "mixed.tif", data[0, 0, :4, :4], append=True)  # e.g. a thumbnail
    with pytest.warns(UserWarning, match=r"2 image series of different shapes or types .*only the first, \(8, 8\)"):
        assert dict(load_stack(tmp_path / "mixed.tif").sizes)["frame"] == 1


@pytest.mark.parametrize("dpi", [72, 300])
def test_tif_screen_dpi_is_no_pixel_size(tmp_path, dpi):
    from PIL import Image

    Image.fromarray(np.zeros((16, 16), np.uint16)).save(tmp_path / "pil.tif", dpi=(dpi, dpi))
    with pytest.warns(UserWarning, match=f"{dpi} dpi.*pixel size was not read.*pixel_size="):
        da = load_stack(tmp_path / "pil.tif")
    assert da.x.attrs["units"] == "px" and pixel_sizes(da) == {"y": 1.0, "x": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the pixel size given: nothing to warn about
        assert pixel_sizes(load_stack(tmp_path / "pil.tif", pixel_size=40.0, spatial_units="nm"))["x"] == 40.0
    tifffile.imwrite(tmp_path / "fine.tif", np.zeros((16, 16)), resolution=(50800, 50800), resolutionunit="INCH")
    assert pixel_sizes(load_stack(tmp_path / "fine.tif"))["x"] == pytest.approx(0.5)  # um: a real pixel size


def test_foreign_h5_picks_single_dataset_and_pixel_size(tmp_path):
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["entry/data/phase"] = np.zeros((3, 8, 8))
        f["entry/data/phase"].attrs["pixel_size_nm"] = 29.8
        f["entry/energy"] = np.array([5.0])  # 1-D: not an image candidate
    da = load_stack(tmp_path / "scan.h5")
    assert float(da.x[1]) == pytest.approx(29.8) and da.x.attrs["units"] == "nm"


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_foreign_xarray_file_keeps_its_coords_and_attrs(tmp_path, suffix):
    da = xr.DataArray(
        np.random.default_rng(0).random((4, 8, 8)).astype(np.float32),
        dims=("frame", "y", "x"),
        name="phase",
        coords={
            "time": ("frame", np.arange(4) * 0.25, {"units": "s"}),
            "y": ("y", np.arange(8) * 40.58, {"units": "nm"}),
            "x": ("x", 100 + np.arange(8) * 40.58, {"units": "nm"}),
        },
        attrs={"units": "rad", "instrument": "SPring-8"},
    )
    path = tmp_path / f"ext{suffix}"
    da.to_netcdf(path) if suffix == ".nc" else da.to_dataset().to_zarr(path)
    loaded = load_stack(path)
    np.testing.assert_allclose(loaded.x.values, da.x.values)
    assert loaded.x.attrs["units"] == "nm"
    np.testing.assert_allclose(loaded.time.values, da.time.values)
    assert loaded.attrs == {"units": "rad", "instrument": "SPring-8"}


def test_foreign_h5_units_are_the_values_units(tmp_path):
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["data"] = np.zeros((3, 8, 8))
        f["data"].attrs.update({"pixel_size": [0.5, 0.25], "units": "counts", "description": "run 7"})
        f["data"].attrs["spatial_units"] = "um"
    da = load_stack(tmp_path / "scan.h5")
    assert pixel_sizes(da) == {"y": 0.5, "x": 0.25} and da.x.attrs["units"] == "um"
    assert da.attrs == {"units": "counts", "description": "run 7"}


def test_foreign_h5_time_and_channel_names_and_an_absolute_key(tmp_path):
    with h5py.File(tmp_path / "beam.h5", "w") as f:
        f["entry/data"] = np.zeros((3, 2, 8, 8), np.float32)
        f["entry/data"].attrs.update({"frame_interval": 0.5, "time_units": "ms", "channel_names": ["phase", "amp"]})
        f["entry/dark"] = np.zeros((8, 8), np.float32)
    da = load_stack(tmp_path / "beam.h5", key="/entry/data")
    assert da.time.values.tolist() == [0.0, 0.5, 1.0] and da.time.attrs["units"] == "ms"
    assert da.channel.values.tolist() == ["phase", "amp"] and "frame_interval" not in da.attrs


def test_container_with_several_arrays_needs_key(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 4, 4)), b=np.ones((2, 4, 4)))
    with pytest.raises(StackError, match="key="):
        load_stack(tmp_path / "two.npz")
    assert float(load_stack(tmp_path / "two.npz", key="b").mean()) == 1.0
    with pytest.raises(StackError, match="no array 'c'"):
        load_stack(tmp_path / "two.npz", key="c")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.npy", None, "no such file"),
        ("notes.txt", b"hello", "suffix"),
        ("broken.tif", b"not a tiff at all", "could not be read as a tif"),
        ("broken.h5", b"nope", "could not be read as a h5"),
        ("scalar.npy", "scalar", "empty|cannot guess"),
    ],
)
def test_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content == "scalar":
        np.save(path, np.float32(3.0))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(StackError, match=message):
        load_stack(path)


def test_foreign_file_with_nan_is_rejected(tmp_path):
    data = np.zeros((2, 4, 4))
    data[1, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", data)
    with pytest.raises(StackError, match="NaN"):
        load_stack(tmp_path / "nan.npy")


def test_npy_sidecar_is_plain_json(stack2d, tmp_path):
    save_stack(stack2d, tmp_path / "s.npy")
    meta = json.loads((tmp_path / "s.npy.json").read_text())
    assert meta["dims"] == list(stack2d.dims)


# ----------------------------------------------------------------- property test

_stacks = st.builds(
    lambda data, size, units, names, interval: as_stack(
        data,
        pixel_size=size,
        spatial_units=units,
        channel_names=names[: data.shape[1]] if len(names) >= data.shape[1] else None,
        frame_interval=interval,
        attrs={"note": "property test"},
    ),
    data=st.one_of(
        hnp.arrays(dtype=dtype, shape=shape, elements=elements)
        for dtype, elements in [
            (np.float32, {"allow_nan": False, "allow_infinity": False}),
            (np.float64, {"allow_nan": False, "allow_infinity": False}),
            (np.uint16, {}),
        ]
        for shape in [
            hnp.array_shapes(min_dims=4, max_dims=4, max_side=5),
            hnp.array_shapes(min_dims=5, max_dims=5, max_side=3),
        ]
    ),
    size=st.floats(min_value=1e-3, max_value=1e4, allow_nan=False),
    units=st.sampled_from(["nm", "um", "px"]),
    names=st.lists(st.text("abcdefgh", min_size=1, max_size=4), min_size=0, max_size=4, unique=True),
    interval=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e3)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stack=_stacks, suffix=st.sampled_from(SUFFIXES))
def test_round_trip_property(tmp_path_factory, stack, suffix):
    path = save_stack(stack, tmp_path_factory.mktemp("rt") / f"s{suffix}")
    xr.testing.assert_identical(load_stack(path), stack)


def _killed_after(monkeypatch, calls: int, module, name: str) -> None:
    """Make ``module.name`` raise, as a kill would stop it, once it has run ``calls`` times."""
    real, done = getattr(module, name), []

    def stopping(*args, **kwargs):
        if len(done) == calls:
            raise KeyboardInterrupt("killed")
        done.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, stopping)


def test_an_npy_save_killed_between_its_two_files_is_detected(stack2d, tmp_path, monkeypatch):
    from matdyn_nb.data import io

    path = save_stack(stack2d, tmp_path / "stack.npy")
    renamed = stack2d.assign_coords(channel=["a", "b"]) * 2
    _killed_after(monkeypatch, 1, io, "_replace")  # the .npy is in place, its .json not yet
    with pytest.raises(KeyboardInterrupt):
        save_stack(renamed, path, overwrite=True)
    monkeypatch.undo()
    with pytest.raises(StackError, match="different saves.*save the stack again"):
        load_stack(path)
    save_stack(renamed, path, overwrite=True)
    xr.testing.assert_identical(load_stack(path), renamed)


def test_an_interrupted_zarr_overwrite_says_where_the_old_data_are(stack2d, tmp_path, monkeypatch):
    from matdyn_nb import _files
    from matdyn_nb.data import io

    path = save_stack(stack2d, tmp_path / "stack.zarr")

    def killed_mid_swap(src, dst):  # the old store is renamed aside, the new one not yet in place
        dst.rename(_files.leftover(dst))
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(io, "replace_directory", killed_mid_swap)
    with pytest.raises(KeyboardInterrupt):
        save_stack(stack2d * 2, path, overwrite=True)
    monkeypatch.undo()
    old = tmp_path / ".stack.zarr.old"
    assert not path.exists() and old.is_dir()
    with pytest.raises(StackError, match=r"interrupted.*\.stack\.zarr\.old.*rename that back"):
        load_stack(path)
    xr.testing.assert_identical(load_stack(old.rename(tmp_path / "back.zarr")), stack2d)  # whole


def test_a_leftover_of_an_interrupted_overwrite_is_never_replaced_silently(stack2d, tmp_path):
    path = save_stack(stack2d, tmp_path / "stack.zarr")
    path.rename(tmp_path / ".stack.zarr.old")
    with pytest.raises(StackError, match="already exist"):
        save_stack(stack2d * 2, path)
    save_stack(stack2d * 2, path, overwrite=True)
    assert not (tmp_path / ".stack.zarr.old").exists()
    xr.testing.assert_identical(load_stack(path), stack2d * 2)
