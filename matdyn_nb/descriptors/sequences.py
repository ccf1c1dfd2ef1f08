"""Rigid-motion sequences of the Ta test chart (twins.md §1.8, paper §3.2 / Fig. 3-4).

The shifts or angles that :func:`~matdyn_nb.descriptors.match_rigid` finds order a
variation's samples post hoc into a translation or a rotation sequence
(:func:`order_sequence`); consecutive images of a sequence are compared by the IOU of their
Ta masks (:func:`consecutive_iou`), the sequence's continuity.
"""

import numpy as np
import xarray as xr
from skimage.filters import threshold_otsu

from ..metrics import iou
from ._images import MOTION_VARS, image_stack, leading_dims

__all__ = ["consecutive_iou", "order_sequence"]

_KINDS = ("auto", "translation", "rotation")


def _order_one(shift: np.ndarray, rotation: np.ndarray, kind: str, radius: float) -> tuple[np.ndarray, str]:
    """Sequence order of one variation from its shifts ``(n, 2)`` and rotations ``(n,)``."""
    centred = shift - shift.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axis = vt[0] * np.sign(vt[0][np.argmax(np.abs(vt[0]))])  # oriented to its larger component's + direction
    along = centred @ axis
    if kind == "auto":
        # both spreads as a displacement in px: a turn moves the template's edge by radius * angle
        kind = "rotation" if np.std(np.deg2rad(rotation)) * radius > np.std(along) else "translation"
    key = along if kind == "translation" else rotation
    return np.argsort(key, kind="stable"), kind


def order_sequence(motion: xr.Dataset, *, kind: str = "auto", dim: str | None = None) -> xr.DataArray:
    """The post-hoc order of a variation's samples into a translation or rotation sequence.

    A translation sequence orders the samples by the projection of their shifts on the
    shifts' first principal axis (oriented to the positive direction of its larger
    component, e.g. +x for a chart moving along x); a rotation sequence orders them by
    angle. ``"auto"`` picks, per sequence, the kind with the larger spread, both expressed
    as a displacement in px: the SD of the projected shift against the SD of the angle (rad)
    times the template radius (the displacement a turn causes at the template's edge).

    Parameters
    ----------
    motion
        The output of :func:`match_rigid`, e.g. over ``(reference, sample)`` or ``(frame,)``.
    kind
        ``"auto"``, ``"translation"`` or ``"rotation"``.
    dim
        The dim to order; default the last leading dim of ``motion`` (``sample``, ``frame``).

    Returns
    -------
    xarray.DataArray
        ``order`` over ``(..., position)``: the positions along ``dim`` in sequence order,
        to pass to ``images.isel({dim: order})``; coord ``kind`` gives the kind chosen per
        sequence and ``attrs["kind"]`` the kind of all of them (``"mixed"`` if they differ).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> motion = xr.Dataset(
    ...     {"shift_y_px": ("sample", [0.0, 0.1, 0.0]), "shift_x_px": ("sample", [2.0, 0.0, 1.0]),
    ...      "rotation": ("sample", [0.0, 0.0, 0.0])}, attrs={"template_radius_px": 22})
    >>> order_sequence(motion).values.tolist()
    [1, 2, 0]
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    missing = [v for v in MOTION_VARS if v not in motion]
    if missing:
        raise ValueError(f"motion lacks {missing}; pass the output of match_rigid")
    lead = motion["rotation"].dims
    dim = _sequence_dim(
        lead, dim, "motion has no leading dim to order; pass match_rigid's output over several images", "motion"
    )
    radius = motion.attrs.get("template_radius_px")
    if kind == "auto" and radius is None:
        raise ValueError("motion lacks attrs['template_radius_px'] (set by match_rigid); pass kind explicitly")
    rest = [d for d in lead if d != dim]
    ordered = motion[list(MOTION_VARS)].transpose(*rest, dim)
    n = motion.sizes[dim]
    shape = [motion.sizes[d] for d in rest]
    shift = np.stack([ordered.shift_y_px.values, ordered.shift_x_px.values], axis=-1).reshape(-1, n, 2)
    rotation = ordered.rotation.values.reshape(-1, n)
    positions = np.empty((shift.shape[0], n), int)
    kinds = np.empty(shift.shape[0], object)
    for i in range(shift.shape[0]):
        positions[i], kinds[i] = _order_one(shift[i], rotation[i], kind, radius)
    chosen = set(kinds)
    # scalar coords are left out: they would clash with a dim of that name in images.isel({dim: order})
    coords = {name: c for name, c in motion.coords.items() if c.dims and dim not in c.dims}
    coords["kind"] = (rest, kinds.reshape(shape).astype(str), {"long_name": "sequence kind"})
    return xr.DataArray(
        positions.reshape(shape + [n]),
        dims=(*rest, "position"),
        coords=coords,
        name="order",
        attrs={
            "units": "1",
            "long_name": f"position along {dim} in sequence order",
            "dim": dim,
            "kind": chosen.pop() if len(chosen) == 1 else "mixed",
            "requested_kind": kind,
        },
    )


def _sequence_dim(lead: tuple, dim: str | None, no_dim_message: str, owner: str) -> str:
    """``dim``, or the last of the leading dims ``lead`` when None; a clear error when there is none."""
    if dim is None:
        if not lead:
            raise ValueError(no_dim_message)
        dim = lead[-1]
    if dim not in lead:
        raise ValueError(f"dim {dim!r} is not a leading dim of {owner} {lead}")
    return dim


def _sequence_positions(images: xr.DataArray, order, dim: str | None) -> tuple[str, xr.DataArray]:
    """The sequence dim of ``images`` and the positions along it in sequence order (dims ``(..., seq)``)."""
    lead = leading_dims(images)
    if dim is None and isinstance(order, xr.DataArray):
        dim = order.attrs.get("dim")
    dim = _sequence_dim(
        lead, dim, "images hold one image; pass a sequence (..., y, x) with a leading dim such as frame", "the images"
    )
    if order is None:
        return dim, xr.DataArray(np.arange(images.sizes[dim]), dims="position")
    if not isinstance(order, xr.DataArray):
        order = xr.DataArray(np.asarray(order, int), dims="position")
    if order.dims[-1] in lead:
        raise ValueError(
            f"order's last dim {order.dims[-1]!r} must be a new dim (e.g. 'position'), not one of the images' dims"
        )
    return dim, order.drop_vars(list(order.coords))


def _ta_mask(phase: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Ta pixels of one phase image: below the Otsu threshold of the phase inside the support."""
    values = phase[inside]
    if values.size == 0 or np.ptp(values) == 0:
        return np.zeros(phase.shape, bool)
    return (phase < threshold_otsu(values)) & inside


def consecutive_iou(
    images: xr.DataArray,
    *,
    order=None,
    support=None,
    dim: str | None = None,
    channel: str | None = None,
) -> xr.DataArray:
    """IOU of the Ta masks of consecutive images of a sequence (paper Fig. 4a, twins.md §1.8).

    Each image is binarised inside the support: Ta is the phase below the Otsu threshold of
    the image's phase inside the support. Consecutive images (in ``order``) are compared by
    :func:`matdyn_nb.metrics.iou`.

    Parameters
    ----------
    images
        Phase images ``(..., [channel,] y, x)`` with Ta negative, e.g. ``(frame, channel, y, x)``
        or ``(reference, sample, channel, y, x)``.
    order
        Positions along ``dim`` in sequence order, e.g. :func:`order_sequence`'s output (its
        last dim is the sequence); default the images' own order.
    support
        Mask where the phase is meaningful (1 inside), ``(y, x)`` or with some of the images'
        leading dims (e.g. the twin's rotated support per frame); default every pixel.
    dim
        The sequence dim; default the one ``order`` was made for, else the images' last
        leading dim.
    channel
        Channel name, when the images have several channels.

    Returns
    -------
    xarray.DataArray
        ``iou`` over ``(..., pair)``, pair ``k`` comparing sequence images ``k`` and ``k + 1``;
        coords ``first`` and ``second`` give their positions along ``dim``.

    Examples
    --------
    >>> from matdyn_nb.twins import ta_chart
    >>> ds = ta_chart("crop64", rng=0, n_frames=12, n_rotations=0)
    >>> consecutive_iou(ds.images).sizes["pair"]
    2
    """
    images = image_stack(images, channel, "images")
    dim, positions = _sequence_positions(images, order, dim)
    seq = positions.dims[-1]
    if positions.sizes[seq] < 2:
        raise ValueError(f"a sequence needs at least 2 images, got {positions.sizes[seq]}")
    phase = images.isel({dim: positions}).transpose(..., seq, "y", "x")
    if support is None:
        inside = np.ones(phase.shape, bool)
    else:
        support = support if isinstance(support, xr.DataArray) else xr.DataArray(np.asarray(support), dims=("y", "x"))
        extra = set(support.dims) - set(images.dims)
        if extra or support.sizes.get("y") != images.sizes["y"] or support.sizes.get("x") != images.sizes["x"]:
            raise ValueError(
                f"support {dict(support.sizes)} must be a (y, x) mask of the images' shape, optionally over some "
                f"of the images' leading dims {dict(images.sizes)}"
            )
        if dim in support.dims:
            support = support.isel({dim: positions})
        bare = phase.drop_vars(list(phase.coords))
        _, support = xr.broadcast(bare, support.drop_vars(list(support.coords)))
        inside = np.asarray(support.transpose(*phase.dims).values) >= 0.5
    values = np.asarray(phase.values, float)
    masks = np.empty(values.shape, bool)
    for idx in np.ndindex(values.shape[:-2]):
        masks[idx] = _ta_mask(values[idx], inside[idx])
    first = positions.isel({seq: slice(None, -1)}).rename({seq: "pair"})
    second = positions.isel({seq: slice(1, None)}).rename({seq: "pair"})
    coords = {name: c for name, c in phase.coords.items() if not {seq, "y", "x"} & set(c.dims)}
    return xr.DataArray(
        iou(masks[..., :-1, :, :], masks[..., 1:, :, :], ndim=2),
        dims=(*phase.dims[:-3], "pair"),
        coords={**coords, "first": first.variable, "second": second.variable},
        name="iou",
        attrs={
            "units": "1",
            "long_name": "IOU of the Ta masks of consecutive images",
            "mask": "phase below the Otsu threshold inside the support",
            "dim": dim,
        },
    )
