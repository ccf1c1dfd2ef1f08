"""The paper's rotation augmentation (§3.2): k random in-plane rotations per frame."""

import warnings

import numpy as np
import xarray as xr
from scipy import ndimage

from .._random import RngLike, as_generator, seed_attr
from ..errors import StackError
from .stack import check_stack, pixel_sizes

__all__ = ["rotate_augment"]


def rotate_augment(
    stack: xr.DataArray,
    n_rotations: int = 5,
    max_angle: float = 30.0,
    *,
    rng: RngLike = None,
    order: int = 3,
    fill_value: float | str = 0.0,
) -> xr.DataArray:
    """Add ``n_rotations`` rotated copies of every frame, angles drawn from U[-max_angle, max_angle].

    Each frame is rotated as a whole about the image centre in the ``(y, x)`` plane (for
    volumes: about the z axis), with cubic spline interpolation; corners are filled with
    ``fill_value``. The rotation is in pixel space: non-square pixels get a warning. Cubic
    interpolation can overshoot the input's range near sharp edges, so augment before
    :func:`~matdyn_nb.data.normalize`. The output is frame-major, each original frame first,
    then its copies, as in the paper (1755 x (1 + 5) = 10 530 images).

    Parameters
    ----------
    stack
        Image stack ``(frame, channel, [z,] y, x)``; not modified.
    n_rotations
        Rotated copies per frame (the paper: 5).
    max_angle
        Half-width of the angle range in degrees (the paper: 30).
    rng
        Seed or Generator; the same seed gives the same angles and images.
    order
        Spline interpolation order (3: bicubic, as the authors).
    fill_value
        Value outside the rotated frame, or ``"median"`` for each image's own median (per
        frame and channel): corners inside the data's range, which a later
        :func:`~matdyn_nb.data.normalize` is not stretched by.

    Returns
    -------
    xarray.DataArray
        ``frame`` has length ``n_frames * (1 + n_rotations)`` and coords ``source_frame``
        (index of the original frame) and ``angle`` (degrees, 0 for originals); a ``time``
        coord follows its source frame.

    Examples
    --------
    >>> import numpy as np
    >>> from matdyn_nb.data import as_stack, rotate_augment
    >>> aug = rotate_augment(as_stack(np.ones((2, 8, 8))), 5, rng=0)
    >>> aug.sizes["frame"], float(aug.angle[0])
    (12, 0.0)
    """
    check_stack(stack)
    if n_rotations < 0 or int(n_rotations) != n_rotations:
        raise StackError(f"n_rotations must be a whole number >= 0, got {n_rotations}")
    if not 0 < max_angle <= 180:
        raise StackError(f"max_angle must be in (0, 180] degrees, got {max_angle}")
    if isinstance(fill_value, str) and fill_value != "median":
        raise StackError(f"fill_value must be a number or 'median', got {fill_value!r}")
    sizes = pixel_sizes(stack)
    if not np.isclose(sizes["y"], sizes["x"]):
        warnings.warn(
            f"the pixels are not square (y {sizes['y']:g}, x {sizes['x']:g}): the rotation is in pixel space, which "
            "shears the physical image; resample the stack onto square pixels first for a physical rotation",
            UserWarning,
            stacklevel=2,
        )
    generator = as_generator(rng)
    n_frames, k = stack.sizes["frame"], int(n_rotations)
    angles = np.zeros((n_frames, k + 1))
    angles[:, 1:] = generator.uniform(-max_angle, max_angle, size=(n_frames, k))

    data = np.asarray(stack.values)
    spatial = tuple(range(2, data.ndim))
    fills = np.median(data, axis=spatial) if fill_value == "median" else np.full(data.shape[:2], float(fill_value))
    out = np.empty((n_frames, k + 1) + data.shape[1:], dtype=np.result_type(data.dtype, np.float32))
    out[:, 0] = data
    for i in range(n_frames):
        for j in range(1, k + 1):
            # positive = counter-clockwise as imshow displays it (row 0 on top): an offset
            # (dy, dx) from the centre goes to (dy cos - dx sin, dx cos + dy sin)
            for c in range(data.shape[1]):
                out[i, j, c] = ndimage.rotate(
                    data[i, c],
                    angles[i, j],
                    axes=(-1, -2),
                    reshape=False,
                    order=order,
                    mode="constant",
                    cval=fills[i, c],
                )
    source = np.repeat(np.arange(n_frames), k + 1)
    result = xr.DataArray(
        out.reshape((-1,) + data.shape[1:]),
        dims=stack.dims,
        coords={name: c for name, c in stack.coords.items() if "frame" not in c.dims},
        name=stack.name,
        attrs={
            **stack.attrs,
            "augmentation": f"{k} rotations per frame in U[-{max_angle}, {max_angle}] deg",
            "augmentation_seed": seed_attr(rng),
        },
    )
    frame_coords = {}
    for name, coord in stack.coords.items():
        if coord.dims == ("frame",) and name != "frame":
            frame_coords[name] = xr.Variable("frame", coord.values[source], coord.attrs)
    # a stack augmented before keeps its provenance: angles add up, sources stay the originals
    earlier = stack.coords["angle"].values[source] if "angle" in stack.coords else 0.0
    origin = stack.coords["source_frame"].values if "source_frame" in stack.coords else stack.frame.values
    frame_coords.update(
        frame=xr.Variable("frame", np.arange(source.size), stack.frame.attrs),
        source_frame=xr.Variable("frame", origin[source], {"long_name": "source frame index"}),
        angle=xr.Variable("frame", earlier + angles.ravel(), {"units": "degree", "long_name": "rotation angle"}),
    )
    return check_stack(result.assign_coords(frame_coords))
