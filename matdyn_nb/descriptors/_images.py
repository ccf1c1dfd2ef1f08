"""Checks and dims shared by the image descriptors (rigid motion, sequences, slits)."""

import xarray as xr

MOTION_VARS = ("shift_y_px", "shift_x_px", "rotation")  # match_rigid's motion, in this order


def image_stack(images, channel: str | None, what: str) -> xr.DataArray:
    """``images`` as a DataArray ``(..., y, x)`` of one channel."""
    if not isinstance(images, xr.DataArray):
        raise TypeError(
            f"{what} must be an xarray.DataArray with dims (..., 'y', 'x'), got {type(images).__name__}; "
            "wrap a numpy array with matdyn_nb.data.as_stack"
        )
    missing = [d for d in ("y", "x") if d not in images.dims]
    if missing:
        raise ValueError(f"{what} lack the dims {missing}; pass a DataArray with dims (..., 'y', 'x')")
    if "channel" in images.dims:
        if channel is not None:
            names = list(images["channel"].values)
            if channel not in names:
                raise ValueError(f"channel {channel!r} is not in the {what}' channels {names}")
            images = images.sel(channel=channel, drop=True)
        elif images.sizes["channel"] == 1:
            images = images.isel(channel=0, drop=True)
        else:
            raise ValueError(
                f"{what} have {images.sizes['channel']} channels {list(images['channel'].values)}; "
                "pick one with channel=<name>"
            )
    if images.sizes["y"] < 3 or images.sizes["x"] < 3:
        raise ValueError(f"{what} must be at least 3 x 3 px, got {images.sizes['y']} x {images.sizes['x']}")
    empty = [d for d in images.dims if images.sizes[d] == 0]
    if empty:
        raise ValueError(f"{what} have no entries along {empty}")
    return images.transpose(..., "y", "x")


def leading_dims(images: xr.DataArray) -> tuple[str, ...]:
    """The dims of ``images`` other than ``y`` and ``x``, in order."""
    return tuple(d for d in images.dims if d not in ("y", "x"))


def leading_coords(images: xr.DataArray) -> dict:
    """The coords of ``images`` that do not run over ``y`` or ``x``."""
    return {name: c for name, c in images.coords.items() if not {"y", "x"} & set(c.dims)}
