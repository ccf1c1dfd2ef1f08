"""Rigid-motion descriptors of the Ta test chart (twins.md §1.8, paper §3.2 / Fig. 3-4).

Template matching by normalised cross-correlation (NCC) gives each image's shift and
rotation relative to a reference (ordering the images into a sequence by that motion and
comparing consecutive ones: :mod:`matdyn_nb.descriptors.sequences`; slits:
:mod:`matdyn_nb.descriptors.slits`).

Motion convention: the reference, rotated by ``rotation`` degrees about the image centre
``c = ((ny - 1) / 2, (nx - 1) / 2)`` (counter-clockwise as displayed, as
:func:`matdyn_nb.data.rotate_augment` rotates) and then shifted by ``(shift_y_px,
shift_x_px)``, overlays the image: a reference pixel ``p`` (row, col) lands on
``c + R(rotation) (p - c) + shift``.
"""

import numpy as np
import xarray as xr
from scipy import ndimage
from skimage.feature import match_template

from .._provenance import provenance_attrs
from ..data import pixel_sizes
from ._images import image_stack, leading_coords, leading_dims

__all__ = ["match_rigid"]

_RIGID_NCC = 0.9  # twins.md §1.8: rigid = NCC >= 0.9 after the best shift and rotation

# least-squares quadratic a + b y + c x + d y^2 + e xy + f x^2 through a 3 x 3 neighbourhood
_QY, _QX = (g.ravel() for g in np.mgrid[-1:2, -1:2])
_QUAD_FIT = np.linalg.pinv(np.stack([np.ones(9), _QY, _QX, _QY**2, _QY * _QX, _QX**2], axis=1))


def _angle_grid(angles) -> np.ndarray:
    grid = np.unique(np.asarray(angles, float).ravel())
    if grid.size == 0:
        raise ValueError("angles is empty; pass the rotation grid in degrees, e.g. np.arange(-30, 30.25, 0.25)")
    if not np.all(np.isfinite(grid)):
        raise ValueError(f"angles must be finite degrees, got {angles}")
    return grid


def _template_region(shape: tuple[int, int], template, support) -> tuple[int, int, int, int]:
    """``(row0, row1, col0, col1)`` of the template in the reference.

    By default the largest square about the image centre that stays inside the image at
    any rotation; with a support, the largest such square about the support's innermost
    point (so a fixed beam edge never enters the template and pins the match at zero shift).
    """
    ny, nx = shape
    if template is not None:
        if support is not None:
            raise ValueError("pass either template= or support=, not both: the support only places the template")
        if not (isinstance(template, tuple) and len(template) == 2 and all(isinstance(s, slice) for s in template)):
            raise ValueError(f"template must be a (slice_y, slice_x) region of the reference, got {template!r}")
        (r0, r1, sy), (c0, c1, sx) = template[0].indices(ny), template[1].indices(nx)
        if sy != 1 or sx != 1 or r1 - r0 < 3 or c1 - c0 < 3:
            raise ValueError(f"template must be a contiguous region of at least 3 x 3 px, got {template!r}")
        return r0, r1, c0, c1
    if support is None:
        # corners of a side-s square rotated by any angle stay within (s - 1) / sqrt(2) of its centre
        n = min(ny, nx)
        side = int(np.floor(1 + (n - 1) / np.sqrt(2)))
        side -= (side - n) % 2  # same parity as the image: centred exactly
        if side < 3:
            raise ValueError(f"images of {ny} x {nx} px leave no room for a template; match images of at least 5 px")
        r0, c0 = (ny - side) // 2, (nx - side) // 2
        return r0, r0 + side, c0, c0 + side
    if isinstance(support, xr.DataArray):
        support = support.transpose(..., "y", "x").values
    mask = np.asarray(support, float).squeeze()
    if mask.shape != (ny, nx):
        raise ValueError(f"support must be one (y, x) mask of the reference's shape {(ny, nx)}, got {mask.shape}")
    inside = np.pad(mask >= 0.5, 1)
    depth = ndimage.distance_transform_edt(inside)[1:-1, 1:-1]
    if depth.max() < 3:
        raise ValueError("support holds no 3 x 3 px region; pass the probe support (1 inside, 0 outside)")
    rows, cols = np.nonzero(depth == depth.max())
    k = np.argmin((rows - (ny - 1) / 2) ** 2 + (cols - (nx - 1) / 2) ** 2)
    half = int(np.floor((depth.max() - 1) / np.sqrt(2)))
    row, col = int(rows[k]), int(cols[k])
    return row - half, row + half + 1, col - half, col + half + 1


def _rotated_templates(reference: np.ndarray, region: tuple[int, int, int, int], angles: np.ndarray) -> np.ndarray:
    """The template region rotated about its centre by each angle, ``(angle, h, w)`` (bicubic)."""
    r0, r1, c0, c1 = region
    cy, cx = (r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2
    qy, qx = np.mgrid[r0:r1, c0:c1] - np.array([cy, cx])[:, None, None]
    a = np.deg2rad(angles)[:, None, None]
    # a template pixel q shows the reference at R(-angle) q: the inverse of rotate_augment's rotation
    sy = cy + qy * np.cos(a) + qx * np.sin(a)
    sx = cx + qx * np.cos(a) - qy * np.sin(a)
    ny, nx = reference.shape
    if sy.min() < 0 or sx.min() < 0 or sy.max() > ny - 1 or sx.max() > nx - 1:
        raise ValueError(
            f"the template rows {r0}:{r1}, cols {c0}:{c1} rotated by up to {np.abs(angles).max():g} deg leave "
            f"the {ny} x {nx} reference; take a smaller or more central template, or a narrower angles range"
        )
    return ndimage.map_coordinates(reference, [sy, sx], order=3, mode="nearest")


def _peak(ncc: np.ndarray, refine: bool) -> tuple[float, float, float, float]:
    """Row, column, refined and sampled value of the NCC maximum.

    With ``refine``, a quadratic is fitted to the 3 x 3 neighbourhood of the sampled
    maximum and its maximum over that neighbourhood is taken. Angles are compared by this
    refined value: the sampled maximum alone favours angles that happen to align edges with
    the pixel grid (a bias of about 0.2 deg at a third of a pixel shift).
    """
    i, j = np.unravel_index(np.argmax(ncc), ncc.shape)
    sampled = float(ncc[i, j])
    if not refine or not (0 < i < ncc.shape[0] - 1 and 0 < j < ncc.shape[1] - 1):
        return float(i), float(j), sampled, sampled
    (dy, dx), value = _box_maximum(_QUAD_FIT @ ncc[i - 1 : i + 2, j - 1 : j + 2].ravel())
    return i + dy, j + dx, value, sampled


def _box_maximum(coef: np.ndarray) -> tuple[np.ndarray, float]:
    """Maximum of ``a + b y + c x + d y^2 + e xy + f x^2`` over ``[-1, 1]^2``: the vertex, or a point on an edge.

    Along a slit or a bar the NCC barely changes, so the peak is a ridge whose vertex can
    fall far outside the neighbourhood; the bounded maximum still gives a position and a
    value comparable across angles.
    """
    a, by, bx, dyy, dxy, dxx = coef
    candidates = []
    hessian = np.array([[2 * dyy, dxy], [dxy, 2 * dxx]])
    if np.all(np.linalg.eigvalsh(hessian) < 0):
        vertex = -np.linalg.solve(hessian, [by, bx])
        if np.all(np.abs(vertex) <= 1):
            candidates.append(vertex)
    for s in (-1.0, 1.0):
        for axis, (slope, curvature) in enumerate(((bx + dxy * s, dxx), (by + dxy * s, dyy))):
            free = [-1.0, 1.0] if curvature >= 0 else [float(np.clip(-slope / (2 * curvature), -1, 1))]
            candidates += [(s, t) if axis == 0 else (t, s) for t in free]
    y, x = np.array(candidates, float).T
    values = a + by * y + bx * x + dyy * y**2 + dxy * x * y + dxx * x**2
    k = int(np.argmax(values))
    return np.array([y[k], x[k]]), float(values[k])


def _vertex(x: np.ndarray, y: np.ndarray) -> float:
    """Abscissa of the vertex of the parabola through three points (clipped to their span)."""
    (x0, x1, x2), (y0, y1, y2) = x, y
    den = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
    if a >= 0:
        return float(x1)
    b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / den
    return float(np.clip(-b / (2 * a), x0, x2))


def _match_one(image: np.ndarray, templates: np.ndarray, angles: np.ndarray, stride: int, refine: bool):
    """Best (row, col) of the template's top-left corner, its peak NCC and angle, coarse to fine over angles."""
    peaks: dict[int, tuple[float, float, float, float]] = {}

    def score(k: int) -> None:
        if k not in peaks:
            peaks[k] = _peak(match_template(image, templates[k]), refine)

    def best() -> int:
        return max(peaks, key=lambda k: peaks[k][2])

    for k in np.unique(np.r_[np.arange(0, angles.size, stride), angles.size - 1]):
        score(k)
    b = best()
    for k in range(max(b - stride, 0), min(b + stride + 1, angles.size)):
        score(k)
    b = best()
    angle = float(angles[b])
    if refine and 0 < b < angles.size - 1:
        angle = _vertex(angles[b - 1 : b + 2], np.array([peaks[k][2] for k in (b - 1, b, b + 1)]))
    row, col, value, sampled = peaks[b]
    # report the refined peak, never below what was sampled nor above 1
    return row, col, float(np.clip(value, sampled, 1.0)), angle


def match_rigid(
    images: xr.DataArray,
    reference: xr.DataArray,
    *,
    angles=None,
    refine: bool = True,
    template: tuple[slice, slice] | None = None,
    support=None,
    channel: str | None = None,
    coarse_step: float = 1.0,
) -> xr.Dataset:
    """Shift and rotation that map the reference onto each image, by template matching.

    A template cut from the reference is rotated through the ``angles`` grid and matched
    against each image by normalised cross-correlation (``skimage.feature.match_template``);
    the angle with the highest NCC peak wins, and the shift is the position of that peak.
    Angles are searched coarse to fine: every ``coarse_step`` degrees first, then every grid
    angle within ``coarse_step`` of the best. With ``refine``, the shift is the maximum of a
    quadratic fitted to the 3 x 3 NCC neighbourhood of the peak, and the angle the vertex of
    the parabola through the peak NCC of the best grid angle and its two neighbours
    (twins.md §1.8).

    The result follows the module's motion convention: the reference rotated by
    ``rotation`` about the image centre, then shifted by ``shift``, overlays the image.

    Parameters
    ----------
    images
        Images ``(..., [channel,] y, x)``, e.g. ``(frame, channel, y, x)`` or
        ``(reference, sample, channel, y, x)``; the leading dims are kept.
    reference
        The reference image ``([channel,] y, x)``, of the images' ``(y, x)`` shape; it may
        carry some of the images' leading dims (e.g. ``reference``), each image then being
        matched against its own reference.
    angles
        Grid of template rotations in degrees; default -30 to 30 in 0.25 steps (twins.md §1.8).
    refine
        Refine the shift below a pixel and the angle below the grid step; else whole pixels
        and grid angles.
    template
        ``(slice_y, slice_x)`` region of the reference to use as the template, rotated about
        its centre. Default: the largest central square that stays inside the image at any
        rotation (44 px of a 64 px image), which leaves a search range of +-10 px.
    support
        ``(y, x)`` mask of the reference where the image is meaningful (the probe support,
        1 inside); the default template is then the largest square centred on the support's
        innermost point that stays inside it at any rotation.
    channel
        Channel name, when the images have several channels.
    coarse_step
        Step in degrees of the first pass over ``angles``; 0 searches every grid angle.

    Returns
    -------
    xarray.Dataset
        Over the images' leading dims: ``shift_y_px``, ``shift_x_px`` (px), ``shift_y``,
        ``shift_x`` (the units of the spatial coords, e.g. nm), ``rotation`` (degree,
        counter-clockwise as displayed), ``ncc`` (peak NCC) and ``rigid`` (``ncc >= 0.9``,
        the paper's rigid criterion). ``attrs`` record the template region, its radius and
        the search grid.

    Examples
    --------
    >>> from matdyn_nb.twins import ta_chart
    >>> ds = ta_chart("crop64", rng=0, n_frames=4)  # one frame and two rotated copies
    >>> m = match_rigid(ds.images, ds.images.isel(frame=0))
    >>> bool(abs(m.rotation - ds.angle).max() < 0.5)
    True
    """
    images = image_stack(images, channel, "images")
    reference = image_stack(reference, channel, "reference")
    shape = (images.sizes["y"], images.sizes["x"])
    if (reference.sizes["y"], reference.sizes["x"]) != shape:
        raise ValueError(
            f"reference is {reference.sizes['y']} x {reference.sizes['x']} px but the images are "
            f"{shape[0]} x {shape[1]} px; pass a reference of the images' (y, x) shape"
        )
    lead, ref_lead = leading_dims(images), leading_dims(reference)
    shared = [d for d in ref_lead if d in lead and reference.sizes[d] == images.sizes[d]]
    if len(shared) != len(ref_lead):
        raise ValueError(
            f"reference has the leading dims {dict((d, reference.sizes[d]) for d in ref_lead)}, which the images "
            f"{dict(images.sizes)} do not all have; pass one (y, x) reference, or one per index of an images' dim"
        )
    grid = _angle_grid(angles if angles is not None else np.arange(-30, 30.25, 0.25))
    if coarse_step < 0:
        raise ValueError(f"coarse_step must be >= 0 degrees, got {coarse_step}")
    spacing = float(np.median(np.diff(grid))) if grid.size > 1 else 1.0
    stride = max(int(round(coarse_step / spacing)), 1)
    region = _template_region(shape, template, support)
    r0, r1, c0, c1 = region
    offset = np.array([(r0 + r1 - 1) / 2 - (shape[0] - 1) / 2, (c0 + c1 - 1) / 2 - (shape[1] - 1) / 2])

    rest = [d for d in lead if d not in ref_lead]
    ordered = images.transpose(*ref_lead, *rest, "y", "x")
    ref_values = reference.transpose(*ref_lead, "y", "x").values.reshape((-1,) + shape)
    n_rest = int(np.prod([images.sizes[d] for d in rest]))
    out = np.empty((ref_values.shape[0], n_rest, 4))
    for i, ref in enumerate(ref_values):
        templates = _rotated_templates(np.asarray(ref, float), region, grid)
        index = dict(zip(ref_lead, np.unravel_index(i, [images.sizes[d] for d in ref_lead]), strict=True))
        block = np.asarray(ordered.isel(index).values, float).reshape((n_rest,) + shape)
        for j, image in enumerate(block):
            row, col, value, angle = _match_one(image, templates, grid, stride, refine)
            a = np.deg2rad(angle)
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            # the template turned about its own centre; move the turn to the image centre
            shift = np.array([row - r0, col - c0]) + offset - rot @ offset
            out[i, j] = shift[0], shift[1], angle, value
    out = out.reshape([images.sizes[d] for d in (*ref_lead, *rest)] + [4])

    size = pixel_sizes(images)
    units = images["x"].attrs.get("units", "px")
    dims = (*ref_lead, *rest)
    ds = xr.Dataset(
        {
            "shift_y_px": (dims, out[..., 0], {"units": "px", "long_name": "shift along y"}),
            "shift_x_px": (dims, out[..., 1], {"units": "px", "long_name": "shift along x"}),
            "shift_y": (dims, out[..., 0] * size["y"], {"units": units, "long_name": "shift along y"}),
            "shift_x": (dims, out[..., 1] * size["x"], {"units": units, "long_name": "shift along x"}),
            "rotation": (
                dims,
                out[..., 2],
                {"units": "degree", "long_name": "rotation, counter-clockwise as displayed"},
            ),
            "ncc": (dims, out[..., 3], {"units": "1", "long_name": "peak normalised cross-correlation"}),
            "rigid": (dims, out[..., 3] >= _RIGID_NCC, {"units": "1", "long_name": f"rigid (ncc >= {_RIGID_NCC})"}),
        },
        coords=leading_coords(images),
        attrs={
            "method": "normalised cross-correlation, skimage.feature.match_template (twins.md §1.8)",
            "motion_convention": "reference turned by `rotation` about the image centre, then shifted",
            "rotation_center_px": [(shape[0] - 1) / 2, (shape[1] - 1) / 2],
            "template_px": [r0, r1, c0, c1],
            "template_radius_px": min(r1 - r0, c1 - c0) / 2,
            "angles_deg": [float(grid[0]), float(grid[-1]), spacing],
            "coarse_step_deg": float(coarse_step),
            "refine": int(refine),
            "rigid_threshold": _RIGID_NCC,
            **provenance_attrs(),
        },
    )
    return ds.transpose(*lead)
